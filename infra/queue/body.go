package queue

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// MaxBodySize is the largest body SQS accepts (256 KiB); bigger job data
// belongs in the object store, with its key in the message.
const MaxBodySize = 256 << 10

// ValidateBody checks body against SQS's rules: 1 to MaxBodySize bytes of
// UTF-8 made only of the characters #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD
// #x10000-#x10FFFF (JSON text always passes, unless it holds other control
// characters).
func ValidateBody(body []byte) error {
	if len(body) == 0 {
		return fmt.Errorf("%w: empty", ErrInvalidBody)
	}
	if len(body) > MaxBodySize {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalidBody, len(body), MaxBodySize)
	}
	for i := 0; i < len(body); {
		r, n := utf8.DecodeRune(body[i:])
		if r == utf8.RuneError && n <= 1 {
			return fmt.Errorf("%w: invalid UTF-8 at byte %d", ErrInvalidBody, i)
		}
		if !allowedRune(r) {
			return fmt.Errorf("%w: character %U at byte %d is not allowed", ErrInvalidBody, r, i)
		}
		i += n
	}
	return nil
}

func allowedRune(r rune) bool {
	switch {
	case r == 0x9 || r == 0xA || r == 0xD:
		return true
	case r >= 0x20 && r <= 0xD7FF:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	default:
		return r >= 0x10000 && r <= 0x10FFFF
	}
}

// WholeSeconds rounds d up to whole seconds, the unit SQS counts in.
func WholeSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}
