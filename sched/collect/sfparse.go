package collect

import (
	"strconv"
	"strings"
)

// The parser below reads the Structured Field (RFC 8941) subset CMCD
// uses: a dictionary of keys with bare items (integer, decimal, string,
// token, boolean) or inner lists of bare items, item parameters skipped.
// It is hand-written so that every bound is checked before memory is
// spent, and so that no input can make it index out of range.

// parser walks one record; it never indexes past s.
type parser struct {
	s string
	i int
}

func (p *parser) done() bool { return p.i >= len(p.s) }

func (p *parser) peek() byte {
	if p.done() {
		return 0
	}
	return p.s[p.i]
}

func (p *parser) skipSpace() {
	for !p.done() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// key reads an SF key: lowercase letter or '*', then [a-z0-9_.*-]. Custom
// CMCD keys ("com.example-x") fit this too.
func (p *parser) key() (string, error) {
	start := p.i
	c := p.peek()
	if !(c >= 'a' && c <= 'z') && c != '*' {
		return "", malformed("", "key must start with a lowercase letter at offset %d", p.i)
	}
	for !p.done() {
		c := p.s[p.i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '*') {
			break
		}
		p.i++
	}
	if p.i-start > maxKeyLen {
		return "", malformed("", "key longer than %d bytes", maxKeyLen)
	}
	return p.s[start:p.i], nil
}

func (p *parser) value(key string) (value, error) {
	c := p.peek()
	switch {
	case c == '"':
		s, err := p.str(key)
		return value{kind: kindString, s: s}, err
	case c == '-' || c >= '0' && c <= '9':
		return p.number(key)
	case c == '?':
		if p.i+1 < len(p.s) && (p.s[p.i+1] == '0' || p.s[p.i+1] == '1') {
			b := p.s[p.i+1] == '1'
			p.i += 2
			return value{kind: kindBool, b: b}, nil
		}
		return value{}, malformed(key, "bad boolean")
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '*':
		return p.token(key)
	}
	return value{}, malformed(key, "missing or bad value at offset %d", p.i)
}

// str reads an SF string: printable ASCII, with \" and \\ the only escapes.
func (p *parser) str(key string) (string, error) {
	p.i++ // opening quote
	var b strings.Builder
	for !p.done() {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '"':
			return b.String(), nil
		case c == '\\':
			if p.done() || (p.s[p.i] != '"' && p.s[p.i] != '\\') {
				return "", malformed(key, "bad escape in string")
			}
			c = p.s[p.i]
			p.i++
		case c < 0x20 || c > 0x7e:
			return "", malformed(key, "non-printable byte in string")
		}
		if b.Len() >= MaxStringLen {
			return "", malformed(key, "string longer than %d bytes", MaxStringLen)
		}
		b.WriteByte(c)
	}
	return "", malformed(key, "unterminated string")
}

func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte(":/!#$%&'*+-.^_`|~", c) >= 0
}

func (p *parser) token(key string) (value, error) {
	start := p.i
	for !p.done() && isTokenChar(p.s[p.i]) {
		p.i++
	}
	if p.i-start > MaxStringLen {
		return value{}, malformed(key, "token longer than %d bytes", MaxStringLen)
	}
	return value{kind: kindToken, s: p.s[start:p.i]}, nil
}

// number reads an SF integer (≤15 digits) or decimal (≤12.3 digits).
func (p *parser) number(key string) (value, error) {
	start := p.i
	if p.peek() == '-' {
		p.i++
	}
	digits := p.i
	for !p.done() && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	intDigits := p.i - digits
	if intDigits == 0 {
		return value{}, malformed(key, "bad number")
	}
	if p.peek() != '.' {
		if intDigits > maxIntDigits {
			return value{}, malformed(key, "integer longer than %d digits", maxIntDigits)
		}
		n, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
		if err != nil {
			return value{}, malformed(key, "bad integer: %v", err)
		}
		return value{kind: kindInt, i: n}, nil
	}
	p.i++
	frac := p.i
	for !p.done() && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	if intDigits > 12 || p.i-frac == 0 || p.i-frac > 3 {
		return value{}, malformed(key, "bad decimal")
	}
	f, err := strconv.ParseFloat(p.s[start:p.i], 64)
	if err != nil {
		return value{}, malformed(key, "bad decimal: %v", err)
	}
	return value{kind: kindDecimal, f: f}, nil
}

// list reads an SF inner list of bare items, as CTA-5004-B sends
// br=(3200) or ec=("E1" "E2"). Item parameters (";v") are skipped.
func (p *parser) list(key string) (value, error) {
	p.i++ // (
	var items []value
	for {
		p.skipSpace()
		if p.peek() == ')' {
			p.i++
			return value{kind: kindList, items: items}, nil
		}
		if len(items) >= MaxListItems {
			return value{}, malformed(key, "more than %d list items", MaxListItems)
		}
		if c := p.peek(); c == '(' || c == 0 {
			return value{}, malformed(key, "unterminated or nested inner list")
		}
		v, err := p.value(key)
		if err != nil {
			return value{}, err
		}
		if err := p.params(key); err != nil {
			return value{}, err
		}
		items = append(items, v)
		if c := p.peek(); c != ' ' && c != ')' {
			return value{}, malformed(key, "unterminated inner list")
		}
	}
}

// params skips SF parameters: *( ";" key [ "=" bare-item ] ).
func (p *parser) params(key string) error {
	for n := 0; p.peek() == ';'; n++ {
		if n >= MaxListItems {
			return malformed(key, "too many parameters")
		}
		p.i++
		if _, err := p.key(); err != nil {
			return err
		}
		if p.peek() == '=' {
			p.i++
			if c := p.peek(); c == '(' {
				return malformed(key, "inner list as a parameter")
			}
			if _, err := p.value(key); err != nil {
				return err
			}
		}
	}
	return nil
}
