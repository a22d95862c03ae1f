package netguard_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/infra/netguard"
	"github.com/rewind-vod/rewind/internal/dnstest"
)

func TestCheckURL(t *testing.T) {
	g := netguard.Strict()
	refused := []string{
		"http://127.0.0.1/",
		"http://127.8.9.10:8080/x",
		"http://localhost/",
		"http://LOCALHOST./",
		"http://api.localhost/",
		"http://0.0.0.0/",
		"http://[::]/",
		"http://[::1]/",
		"http://169.254.169.254/latest/meta-data/",
		"http://[fe80::1%25eth0]/",
		"http://10.0.0.1/",
		"http://172.16.5.4/",
		"http://192.168.1.1/",
		"http://100.64.0.1/",
		"http://[fd00::1]/",
		"http://[fc00::1]/",
		"http://224.0.0.1/",
		"http://[ff02::1]/",
		"http://255.255.255.255/",
		"http://[::ffff:127.0.0.1]/",
		"http://[::ffff:169.254.169.254]/",
		"http://[::127.0.0.1]/",
		"http://[64:ff9b::a00:1]/",
		"http://[2002:7f00:1::]/",
		"http://user:pass@example.com/",
		"http://user@example.com/",
		"http://2130706433/",
		"http://0x7f.1/",
		"http://127.1/",
		"ftp://example.com/",
		"example.com/hook",
		"http:///path",
		"http://exa mple.com/",
		"http://example.com:99999/",
	}
	for _, u := range refused {
		if err := g.CheckURL(u); !errors.Is(err, netguard.ErrForbidden) {
			t.Errorf("CheckURL(%q) = %v, want ErrForbidden", u, err)
		}
	}
	allowed := []string{
		"https://app.example.com/hooks/rewind",
		"http://example.com:8080/x?y=1",
		"https://93.184.216.34/",
		"https://[2606:2800:220:1:248:1893:25c8:1946]/",
		"https://[64:ff9b::5db8:d822]/", // NAT64 of a public address
		"https://localhost.example.com/",
	}
	for _, u := range allowed {
		if err := g.CheckURL(u); err != nil {
			t.Errorf("CheckURL(%q) = %v, want nil", u, err)
		}
	}
}

func TestAllowList(t *testing.T) {
	g, err := netguard.New(netguard.Config{Allow: []string{"10.0.0.0/8", "fd00::1", "hooks.internal", "*.svc.cluster.local", "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"http://10.1.2.3/", "http://[fd00::1]/", "http://hooks.internal/", "http://HOOKS.INTERNAL./x",
		"http://a.b.svc.cluster.local/", "http://127.0.0.1:9000/", "http://[::ffff:10.0.0.1]/"} {
		if err := g.CheckURL(u); err != nil {
			t.Errorf("allowed %q: %v", u, err)
		}
	}
	// The list opens what it names, nothing more; userinfo stays refused.
	for _, u := range []string{"http://[fd00::2]/", "http://192.168.0.1/", "http://127.0.0.2/",
		"http://localhost/", "http://u:p@hooks.internal/"} {
		if err := g.CheckURL(u); !errors.Is(err, netguard.ErrForbidden) {
			t.Errorf("CheckURL(%q) = %v, want ErrForbidden", u, err)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "not a host", "-bad.example"} {
		if _, err := netguard.New(netguard.Config{Allow: []string{bad}}); err == nil {
			t.Errorf("New(allow %q) accepted", bad)
		}
	}
}

// listener accepts and counts connections until the test ends.
func listener(t *testing.T) (port string, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, accepted
}

// A name that passes CheckURL but resolves to loopback (DNS rebinding) is
// refused when dialing: the check is on the resolved address.
func TestDialRefusesResolvedLoopback(t *testing.T) {
	dns := dnstest.Start(t, map[string][]netip.Addr{
		"rebind.test":   {netip.MustParseAddr("127.0.0.1")},
		"metadata.test": {netip.MustParseAddr("169.254.169.254")},
		"trusted.test":  {netip.MustParseAddr("127.0.0.1")},
	})
	port, accepted := listener(t)
	g, err := netguard.New(netguard.Config{Resolver: dns.Resolver(), Timeout: 2 * time.Second, Allow: []string{"trusted.test"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, host := range []string{"rebind.test", "metadata.test"} {
		if err := g.CheckURL("http://" + host + ":" + port + "/"); err != nil {
			t.Fatalf("CheckURL(%s) = %v: a plain name passes at submit", host, err)
		}
		c, err := g.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
		if err == nil {
			c.Close()
			t.Fatalf("dial %s connected", host)
		}
		if !errors.Is(err, netguard.ErrForbidden) || !strings.Contains(err.Error(), "is ") {
			t.Errorf("dial %s: %v, want ErrForbidden", host, err)
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("the loopback listener accepted %d connections", n)
	}
	if dns.Queries() == 0 {
		t.Error("the test resolver was not asked")
	}
	// A literal forbidden address is refused the same way.
	if _, err := g.DialContext(ctx, "tcp", "127.0.0.1:"+port); !errors.Is(err, netguard.ErrForbidden) {
		t.Errorf("dial 127.0.0.1: %v", err)
	}
	// A name on the allow-list is dialed as it resolves.
	c, err := g.DialContext(ctx, "tcp", net.JoinHostPort("trusted.test", port))
	if err != nil {
		t.Fatalf("dial allowed name: %v", err)
	}
	c.Close()
	// So is an address in an allowed prefix.
	g2, _ := netguard.New(netguard.Config{Resolver: dns.Resolver(), Allow: []string{"127.0.0.0/8"}})
	c, err = g2.DialContext(ctx, "tcp", net.JoinHostPort("rebind.test", port))
	if err != nil {
		t.Fatalf("dial allowed prefix: %v", err)
	}
	c.Close()
	deadline := time.Now().Add(2 * time.Second)
	for accepted.Load() != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := accepted.Load(); n != 2 {
		t.Errorf("accepted %d connections, want the 2 allowed", n)
	}
}
