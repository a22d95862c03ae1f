package origin

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Errors returned by VerifySignature. Each maps to a reason of
// rewind_origin_auth_denied_total.
var (
	ErrMissingSignature = errors.New("missing exp or sig in the publish query")
	ErrExpiredSignature = errors.New("signed publish URL has expired")
	ErrBadSignature     = errors.New("bad publish signature")
)

// Sign returns the query that authorizes publishing stream ("app/name") until
// exp: "exp={unix seconds}&sig={hex HMAC-SHA256(secret, "app/name:exp")}".
// Append it to the stream name: rtmp://host/app/name?exp=...&sig=...
func Sign(secret string, stream string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return "exp=" + e + "&sig=" + hex.EncodeToString(mac([]byte(secret), stream, e))
}

// VerifySignature checks the exp and sig parameters of a publish query for
// stream ("app/name") against every secret (several are accepted at once so
// that secrets can be rotated). It returns nil, or an error wrapping
// ErrMissingSignature, ErrBadSignature or ErrExpiredSignature. The signature
// is checked before the expiry, so an expired error means the URL was
// genuine.
func VerifySignature(secrets []string, stream string, query url.Values, now time.Time) error {
	expStr, sigStr := query.Get("exp"), query.Get("sig")
	if expStr == "" || sigStr == "" {
		return ErrMissingSignature
	}
	if !allDigits(expStr) || len(expStr) > 19 {
		return fmt.Errorf("%w: exp is not unix seconds", ErrBadSignature)
	}
	sig, err := hex.DecodeString(sigStr)
	if err != nil || len(sig) != sha256.Size {
		return fmt.Errorf("%w: sig is not a hex HMAC-SHA256", ErrBadSignature)
	}
	ok := false
	for _, s := range secrets {
		// hmac.Equal is constant-time; keep looping so the time does not
		// tell which secret matched.
		if hmac.Equal(mac([]byte(s), stream, expStr), sig) {
			ok = true
		}
	}
	if !ok {
		return ErrBadSignature
	}
	exp, err := strconv.ParseInt(expStr, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: exp: %v", ErrBadSignature, err)
	}
	if now.Unix() > exp {
		return fmt.Errorf("%w (at %s)", ErrExpiredSignature, time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

func mac(secret []byte, stream, exp string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(stream))
	h.Write([]byte{':'})
	h.Write([]byte(exp))
	return h.Sum(nil)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// signatureReason maps a VerifySignature error to a metric reason.
func signatureReason(err error) string {
	switch {
	case errors.Is(err, ErrMissingSignature):
		return reasonMissingSignature
	case errors.Is(err, ErrExpiredSignature):
		return reasonExpired
	default:
		return reasonBadSignature
	}
}
