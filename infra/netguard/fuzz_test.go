package netguard_test

import (
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/rewind-vod/rewind/infra/netguard"
)

// FuzzCheckURL: CheckURL never panics and never accepts a URL that the
// HTTP client would send credentials with or dial at a forbidden literal
// address; every refusal is ErrForbidden. Seeds: testdata/fuzz/FuzzCheckURL.
func FuzzCheckURL(f *testing.F) {
	f.Add("https://app.example.com/hooks/rewind")
	f.Add("http://[::ffff:127.0.0.1]/")
	g := netguard.Strict()
	f.Fuzz(func(t *testing.T, raw string) {
		err := g.CheckURL(raw)
		if err != nil {
			if !errors.Is(err, netguard.ErrForbidden) {
				t.Fatalf("CheckURL(%q) = %v, not ErrForbidden", raw, err)
			}
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil {
			t.Fatalf("accepted %q, which does not parse: %v", raw, perr)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.User != nil || u.Hostname() == "" {
			t.Fatalf("accepted %q: scheme %q user %v host %q", raw, u.Scheme, u.User, u.Hostname())
		}
		host := u.Hostname()
		if ip, err := netip.ParseAddr(host); err == nil {
			if g.CheckAddr(ip) != nil {
				t.Fatalf("accepted %q with forbidden address %s", raw, ip)
			}
			return
		}
		h := strings.TrimSuffix(strings.ToLower(host), ".")
		if h == "localhost" || strings.HasSuffix(h, ".localhost") {
			t.Fatalf("accepted local name in %q", raw)
		}
	})
}
