package catalog

import (
	"errors"
	"net/url"
	"testing"
	"time"
)

func TestPlayToken(t *testing.T) {
	st := Stream{App: "live", Name: "cam"}
	now := time.Unix(1_800_000_000, 0)
	q, err := url.ParseQuery(SignPlay("new", st, now.Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	exp, err := VerifyPlay([]string{"old", "new"}, st, q.Get("exp"), q.Get("sig"), now)
	if err != nil || !exp.Equal(now.Add(time.Hour)) {
		t.Fatalf("good token: %v %v", exp, err)
	}
	cases := map[string]struct {
		secrets   []string
		st        Stream
		exp, sig  string
		now       time.Time
		wantError error
	}{
		"missing":      {[]string{"new"}, st, "", "", now, ErrPlayTokenMissing},
		"expired":      {[]string{"new"}, st, q.Get("exp"), q.Get("sig"), now.Add(2 * time.Hour), ErrPlayTokenExpired},
		"wrong secret": {[]string{"other"}, st, q.Get("exp"), q.Get("sig"), now, ErrPlayTokenInvalid},
		"other stream": {[]string{"new"}, Stream{App: "live", Name: "cam2"}, q.Get("exp"), q.Get("sig"), now, ErrPlayTokenInvalid},
		"bad exp":      {[]string{"new"}, st, "soon", q.Get("sig"), now, ErrPlayTokenInvalid},
		"tampered exp": {[]string{"new"}, st, "1900000000", q.Get("sig"), now, ErrPlayTokenInvalid},
	}
	for name, c := range cases {
		if _, err := VerifyPlay(c.secrets, c.st, c.exp, c.sig, c.now); !errors.Is(err, c.wantError) {
			t.Errorf("%s: got %v, want %v", name, err, c.wantError)
		}
	}
}

// The expiry alone is checked without any stream: what vodapi refuses
// before it knows which stream a clip is of.
func TestPlayTokenExpiry(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	if got, err := PlayTokenExpiry("1800000060", now); err != nil || !got.Equal(now.Add(time.Minute)) {
		t.Errorf("live: %v %v", got, err)
	}
	for exp, want := range map[string]error{
		"1800000000":    ErrPlayTokenExpired, // now is already too late
		"1799999999":    ErrPlayTokenExpired,
		"soon":          ErrPlayTokenInvalid,
		"0":             ErrPlayTokenInvalid,
		"-5":            ErrPlayTokenInvalid,
		"1234567890123": ErrPlayTokenInvalid, // more than 12 digits
	} {
		if _, err := PlayTokenExpiry(exp, now); !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", exp, err, want)
		}
	}
}
