package collect

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// The four CMCD headers of CTA-5004 section 2; a player may split one
// record over them.
var cmcdHeaders = [...]string{"CMCD-Object", "CMCD-Request", "CMCD-Session", "CMCD-Status"}

// Bounds of an application/cmcd body (CMCD v2 event reports).
const (
	MaxEventBodyBytes = 64 << 10
	MaxEventLines     = 100
)

// ReportFromRequest reads the CMCD record a request carries, from the CMCD=
// query parameter and the CMCD-* headers together (a key in two places is
// malformed). ok is false when the request carries no CMCD at all.
func ReportFromRequest(r *http.Request) (rep Report, ok bool, err error) {
	total := 0
	v, has, err := cmcdQueryValue(r.URL.RawQuery)
	if err != nil {
		return Report{}, false, err
	}
	if has {
		total += len(v)
		if err := rep.parseInto(v); err != nil {
			return Report{}, false, err
		}
		ok = true
	}
	for _, h := range cmcdHeaders {
		vs := r.Header.Values(h)
		if len(vs) == 0 {
			continue
		}
		v := strings.Join(vs, ",")
		if total += len(v); total > MaxRecordBytes {
			return Report{}, false, &ParseError{Err: ErrTooLarge, Reason: fmt.Sprintf("CMCD over %d bytes", MaxRecordBytes)}
		}
		if err := rep.parseInto(v); err != nil {
			return Report{}, false, fmt.Errorf("%s: %w", h, err)
		}
		ok = true
	}
	if ok && !rep.Has("v") {
		rep.Version = 1
	}
	return rep, ok, nil
}

// cmcdQueryValue finds the one CMCD parameter of a raw query and unescapes
// it. Only that parameter is read, so the rest of a query (a signed
// playback URL's) can be anything.
func cmcdQueryValue(raw string) (v string, has bool, err error) {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		k, esc, _ := strings.Cut(part, "=")
		if k != "CMCD" {
			continue
		}
		if has {
			return "", false, malformed("", "more than one CMCD query parameter")
		}
		if len(esc) > 3*MaxRecordBytes {
			return "", false, &ParseError{Err: ErrTooLarge, Reason: "CMCD query parameter too long"}
		}
		if v, err = url.QueryUnescape(esc); err != nil {
			return "", false, malformed("", "CMCD query parameter: %v", err)
		}
		has = true
	}
	return v, has, nil
}

// ParseEventBody parses an application/cmcd body: one record per line,
// blank lines skipped. The whole body fails on one bad line, so a player
// bug shows as a 4xx rather than as silently thinner data.
func ParseEventBody(body []byte) ([]Report, error) {
	if len(body) > MaxEventBodyBytes {
		return nil, &ParseError{Err: ErrTooLarge, Reason: fmt.Sprintf("body over %d bytes", MaxEventBodyBytes)}
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 1024), MaxRecordBytes+2)
	var out []Report
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		if len(out) >= MaxEventLines {
			return nil, &ParseError{Err: ErrTooLarge, Reason: fmt.Sprintf("more than %d reports", MaxEventLines)}
		}
		rep, err := ParseCMCD(s)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, rep)
	}
	if err := sc.Err(); err != nil {
		return nil, &ParseError{Err: ErrTooLarge, Reason: fmt.Sprintf("line over %d bytes", MaxRecordBytes)}
	}
	if len(out) == 0 {
		return nil, malformed("", "empty body")
	}
	return out, nil
}
