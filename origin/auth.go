package origin

import (
	"errors"
	"net/url"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

// VerifySignature checks the exp and sig parameters of a publish query for
// stream against every secret (catalog's signed token, purpose publish).
// It returns nil, or an error wrapping catalog.ErrTokenMissing,
// ErrTokenInvalid or ErrTokenExpired.
func VerifySignature(secrets []string, stream catalog.Stream, query url.Values, now time.Time) error {
	_, err := catalog.VerifyToken(secrets, catalog.PurposePublish, stream, query.Get("exp"), query.Get("sig"), now)
	return err
}

// signatureReason maps a VerifySignature error to a metric reason.
func signatureReason(err error) string {
	switch {
	case errors.Is(err, catalog.ErrTokenMissing):
		return reasonMissingSignature
	case errors.Is(err, catalog.ErrTokenExpired):
		return reasonExpired
	default:
		return reasonBadSignature
	}
}
