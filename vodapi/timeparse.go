package vodapi

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// queryTime reads the query time named name, def when it is absent.
func queryTime(c echo.Context, name string, def time.Time) (time.Time, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	t, err := ParseTime(v)
	if err != nil {
		return time.Time{}, badRequest("bad_time", name+": "+err.Error())
	}
	return t, nil
}

// queryWindow reads the listing window from and to (each def when absent),
// to after from.
func queryWindow(c echo.Context, from, to time.Time) (time.Time, time.Time, error) {
	from, err := queryTime(c, "from", from)
	if err != nil {
		return from, to, err
	}
	if to, err = queryTime(c, "to", to); err != nil {
		return from, to, err
	}
	if !to.After(from) {
		return from, to, badRequest("bad_window", "to must be after from")
	}
	return from, to, nil
}

// ParseTime reads a query time: RFC 3339 (fractions allowed) or unix
// seconds (fractions allowed), from 1970 to 9999. Anything else is an error
// saying which forms are accepted.
func ParseTime(s string) (time.Time, error) {
	t, err := parseTime(s)
	if err == nil && (t.Before(time.Unix(0, 0)) || t.Year() > 9999) {
		return time.Time{}, fmt.Errorf("time %q: out of range (1970 to 9999)", s)
	}
	return t, err
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("empty time")
	}
	if len(s) > 40 {
		return time.Time{}, fmt.Errorf("time %q...: too long", s[:40])
	}
	if isUnix(s) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f > 1e11 {
			return time.Time{}, fmt.Errorf("time %q: unix seconds out of range", s)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e3))*1e6).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2026-11-23T10:15:00Z) or unix seconds (1795000000.5)", s)
	}
	return t.UTC(), nil
}

func isUnix(s string) bool {
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || (hasFrac && frac == "") {
		return false
	}
	for _, part := range []string{whole, frac} {
		for _, c := range part {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}
