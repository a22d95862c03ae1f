package catalog

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestToken(t *testing.T) {
	st := Stream{App: "live", Name: "cam"}
	now := time.Unix(1_800_000_000, 0)
	good := SignToken("new", PurposePlay, st, now.Add(time.Minute))
	if !strings.HasPrefix(good, "exp=1800000060&sig=") || len(good) != len("exp=1800000060&sig=")+64 {
		t.Fatalf("SignToken = %q", good)
	}
	q, err := url.ParseQuery(good)
	if err != nil {
		t.Fatal(err)
	}
	exp, sig := q.Get("exp"), q.Get("sig")
	if got, err := VerifyToken([]string{"old", "new"}, PurposePlay, st, exp, sig, now); err != nil || !got.Equal(now.Add(time.Minute)) {
		t.Fatalf("good token: %v %v", got, err)
	}
	cases := map[string]struct {
		secrets  []string
		purpose  Purpose
		st       Stream
		exp, sig string
		now      time.Time
		want     error
	}{
		"at the expiry second": {[]string{"new"}, PurposePlay, st, exp, sig, now.Add(time.Minute), nil},
		"uppercase hex":        {[]string{"new"}, PurposePlay, st, exp, strings.ToUpper(sig), now, nil},
		"missing":              {[]string{"new"}, PurposePlay, st, "", "", now, ErrTokenMissing},
		"missing sig":          {[]string{"new"}, PurposePlay, st, exp, "", now, ErrTokenMissing},
		"missing exp":          {[]string{"new"}, PurposePlay, st, "", sig, now, ErrTokenMissing},
		"expired":              {[]string{"new"}, PurposePlay, st, exp, sig, now.Add(time.Minute + time.Second), ErrTokenExpired},
		// Expired is said before the signature is looked at.
		"expired and forged": {[]string{"other"}, PurposePlay, st, exp, sig, now.Add(time.Hour), ErrTokenExpired},
		"wrong secret":       {[]string{"other"}, PurposePlay, st, exp, sig, now, ErrTokenInvalid},
		"no secrets":         {nil, PurposePlay, st, exp, sig, now, ErrTokenInvalid},
		"other stream":       {[]string{"new"}, PurposePlay, Stream{App: "live", Name: "cam2"}, exp, sig, now, ErrTokenInvalid},
		"publish, not play":  {[]string{"new"}, PurposePublish, st, exp, sig, now, ErrTokenInvalid},
		"exp changed":        {[]string{"new"}, PurposePlay, st, "1800009999", sig, now, ErrTokenInvalid},
		"exp with a sign":    {[]string{"new"}, PurposePlay, st, "+1800000060", sig, now, ErrTokenInvalid},
		"exp not a number":   {[]string{"new"}, PurposePlay, st, "soon", sig, now, ErrTokenInvalid},
		"sig not hex":        {[]string{"new"}, PurposePlay, st, exp, "zz", now, ErrTokenInvalid},
		"sig truncated":      {[]string{"new"}, PurposePlay, st, exp, sig[:62], now, ErrTokenInvalid},
		"exp over 12 digits": {[]string{"new"}, PurposePlay, st, "1234567890123", sig, now, ErrTokenInvalid},
	}
	for name, c := range cases {
		_, err := VerifyToken(c.secrets, c.purpose, c.st, c.exp, c.sig, c.now)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	// The purpose is in the signed message: a publish token of the same
	// stream and exp differs.
	if pub := SignToken("new", PurposePublish, st, now.Add(time.Minute)); pub == good {
		t.Error("publish and play tokens are the same")
	}
}

// The expiry alone is checked without any stream: what vodapi refuses
// before it knows which stream a clip is of.
func TestTokenExpiry(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	if got, err := TokenExpiry("1800000060", now); err != nil || !got.Equal(now.Add(time.Minute)) {
		t.Errorf("live: %v %v", got, err)
	}
	for exp, want := range map[string]error{
		"1800000000":    nil, // valid through its second
		"1799999999":    ErrTokenExpired,
		"soon":          ErrTokenInvalid,
		"0":             ErrTokenInvalid,
		"-5":            ErrTokenInvalid,
		"1234567890123": ErrTokenInvalid, // more than 12 digits
	} {
		if _, err := TokenExpiry(exp, now); want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", exp, err, want)
		}
	}
}

func FuzzVerifyToken(f *testing.F) {
	st := Stream{App: "live", Name: "cam"}
	now := time.Unix(1_800_000_000, 0)
	q, _ := url.ParseQuery(SignToken("s", PurposePlay, st, now.Add(time.Hour)))
	f.Add(q.Get("exp"), q.Get("sig"))
	f.Add("1800003600", "00")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, exp, sig string) {
		got, err := VerifyToken([]string{"s"}, PurposePlay, st, exp, sig, now)
		if err != nil {
			return
		}
		// Only the one real signature opens it, and never past exp.
		if want := SignToken("s", PurposePlay, st, got); want != "exp="+exp+"&sig="+strings.ToLower(sig) || now.After(got.Add(time.Second)) {
			t.Fatalf("accepted exp=%q sig=%q", exp, sig)
		}
	})
}
