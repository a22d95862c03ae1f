// Package netguard decides whether an outbound address may be dialed on a
// client's behalf (webhooks): loopback, link-local (cloud metadata),
// private, shared (CGNAT), unique-local, unspecified and multicast
// addresses are refused, in every IPv4-mapped or -embedded form, unless an
// operator allow-list names them.
//
// Two checks, because a URL can lie: CheckURL refuses what is visibly
// local when a request is submitted, and the dialer (Dialer, or Control
// on any net.Dialer) refuses the address actually connected to, after
// DNS, so a name that resolves (or rebinds) to an internal address is
// refused too. The dial-time check is the one that holds.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrForbidden is returned (wrapped) for an address or URL that may not be
// dialed.
var ErrForbidden = errors.New("forbidden destination")

// Config builds a Guard.
type Config struct {
	// Allow lists the internal destinations the operator trusts: CIDR
	// prefixes ("10.0.0.0/8"), single addresses ("10.1.2.3", "fd00::1")
	// and host names ("hooks.internal"; "*.hooks.internal" for its
	// subdomains). A name is matched before resolution and trusted with
	// whatever it resolves to.
	Allow []string
	// Resolver resolves names at dial time (default net.DefaultResolver).
	Resolver *net.Resolver
	// Timeout bounds connecting, resolution included (default 10s).
	Timeout time.Duration
}

// Guard is an immutable policy; safe for concurrent use.
type Guard struct {
	nets     []netip.Prefix
	hosts    map[string]bool // exact names, lower case, no trailing dot
	suffixes []string        // ".hooks.internal" for "*.hooks.internal"
	resolver *net.Resolver
	timeout  time.Duration
	allow    []string // as given, for String
}

// String is the allow-list as given, comma-separated (how a flag shows it).
func (g *Guard) String() string {
	if g == nil {
		return ""
	}
	return strings.Join(g.allow, ",")
}

// New parses cfg.Allow.
func New(cfg Config) (*Guard, error) {
	g := &Guard{hosts: map[string]bool{}, resolver: cfg.Resolver, timeout: cfg.Timeout}
	if g.resolver == nil {
		g.resolver = net.DefaultResolver
	}
	if g.timeout <= 0 {
		g.timeout = 10 * time.Second
	}
	for _, a := range cfg.Allow {
		a = strings.TrimSpace(a)
		if a != "" {
			g.allow = append(g.allow, a)
		}
		switch {
		case a == "":
		case strings.Contains(a, "/"):
			p, err := netip.ParsePrefix(a)
			if err != nil {
				return nil, fmt.Errorf("netguard: allow %q: %w", a, err)
			}
			g.nets = append(g.nets, p.Masked())
		default:
			if ip, err := netip.ParseAddr(a); err == nil {
				ip = ip.Unmap()
				g.nets = append(g.nets, netip.PrefixFrom(ip, ip.BitLen()))
				continue
			}
			name := canonicalHost(a)
			wild := strings.HasPrefix(name, "*.")
			if wild {
				name = name[2:]
			}
			if !validName(name) {
				return nil, fmt.Errorf("netguard: allow %q: not a CIDR, an IP address or a host name", a)
			}
			if wild {
				g.suffixes = append(g.suffixes, "."+name)
			} else {
				g.hosts[name] = true
			}
		}
	}
	return g, nil
}

// Strict is a guard with an empty allow-list and the default resolver.
func Strict() *Guard {
	g, _ := New(Config{})
	return g
}

// CheckAddr says whether ip may be dialed.
func (g *Guard) CheckAddr(ip netip.Addr) error {
	ip = ip.Unmap().WithZone("")
	for _, p := range g.nets {
		if p.Contains(ip) {
			return nil
		}
	}
	if why := forbidden(ip); why != "" {
		return fmt.Errorf("%w: %s is %s", ErrForbidden, ip, why)
	}
	return nil
}

// Special ranges beyond what netip.Addr's predicates cover.
var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	sharedCGNAT = netip.MustParsePrefix("100.64.0.0/10")
	ietfProto   = netip.MustParsePrefix("192.0.0.0/24")
	benchmark   = netip.MustParsePrefix("198.18.0.0/15")
	reserved    = netip.MustParsePrefix("240.0.0.0/4") // broadcast included
	v4Compat    = netip.MustParsePrefix("::/96")       // deprecated IPv4-compatible
	nat64       = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local  = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// forbidden names the class of a refused address ("" if it may be dialed).
// IPv6 forms that carry an IPv4 address (NAT64, 6to4) are judged by it.
func forbidden(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return "not an address"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsLinkLocalUnicast():
		return "link-local (cloud metadata lives here)"
	case ip.IsMulticast():
		return "multicast"
	case ip.IsPrivate():
		return "private"
	}
	if ip.Is4() {
		switch {
		case thisNetwork.Contains(ip):
			return "in 0.0.0.0/8"
		case sharedCGNAT.Contains(ip):
			return "shared address space (100.64.0.0/10)"
		case ietfProto.Contains(ip), benchmark.Contains(ip), reserved.Contains(ip):
			return "reserved"
		}
		return ""
	}
	b := ip.As16()
	switch {
	case v4Compat.Contains(ip):
		return "IPv4-compatible (deprecated)"
	case nat64.Contains(ip), nat64Local.Contains(ip):
		if why := forbidden(netip.AddrFrom4([4]byte(b[12:16]))); why != "" {
			return "NAT64 of an address that is " + why
		}
	case sixToFour.Contains(ip):
		if why := forbidden(netip.AddrFrom4([4]byte(b[2:6]))); why != "" {
			return "6to4 of an address that is " + why
		}
	}
	return ""
}

// allowedName: the operator trusts this host name whatever it resolves to.
func (g *Guard) allowedName(host string) bool {
	host = canonicalHost(host)
	if g.hosts[host] {
		return true
	}
	for _, s := range g.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// CheckURL checks a webhook URL without resolving it: an absolute http(s)
// URL, no user:password (it would be sent as Basic auth to whoever
// answers), and no host that is visibly local: a forbidden literal
// address, localhost and its subdomains, or a numeric host that some
// resolvers read as an IPv4 address (2130706433, 0x7f.1, 127.1).
func (g *Guard) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: not a URL: %w", ErrForbidden, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: scheme must be http or https", ErrForbidden)
	}
	if u.User != nil {
		return fmt.Errorf("%w: the URL must not carry a user or password", ErrForbidden)
	}
	if u.Opaque != "" || u.Host == "" {
		return fmt.Errorf("%w: the URL must be absolute with a host", ErrForbidden)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%w: the URL has no host", ErrForbidden)
	}
	if p := u.Port(); p != "" {
		if n, ok := portNumber(p); !ok || n == 0 {
			return fmt.Errorf("%w: bad port %q", ErrForbidden, p)
		}
	}
	return g.checkHost(host)
}

// checkHost judges a host as written (a name or a literal address).
func (g *Guard) checkHost(host string) error {
	if ip, err := netip.ParseAddr(host); err == nil {
		return g.CheckAddr(ip)
	}
	if strings.HasPrefix(host, "[") || strings.Contains(host, ":") {
		return fmt.Errorf("%w: bad IPv6 address %q", ErrForbidden, host)
	}
	if g.allowedName(host) {
		return nil
	}
	name := canonicalHost(host)
	switch {
	case !validName(name):
		return fmt.Errorf("%w: %q is not a valid host name", ErrForbidden, host)
	case numericName(name):
		return fmt.Errorf("%w: %q reads as an IPv4 address in a non-standard form", ErrForbidden, host)
	case localName(name):
		return fmt.Errorf("%w: %q names this machine", ErrForbidden, host)
	}
	return nil
}

// canonicalHost lower-cases and drops one trailing dot ("LocalHost." is
// localhost).
func canonicalHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// localName: names every resolver maps to loopback (RFC 6761 localhost,
// and the usual /etc/hosts aliases).
func localName(name string) bool {
	switch name {
	case "localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "localdomain":
		return true
	}
	return strings.HasSuffix(name, ".localhost")
}

// numericName: the last label is all digits, or hex with 0x: no public
// name ends so (top-level domains are alphabetic), while inet_aton-style
// parsers read such a host as an IPv4 address.
func numericName(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	if h, ok := strings.CutPrefix(last, "0x"); ok {
		last = h
		return strings.Trim(last, "0123456789abcdef") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// validName: a DNS host name (letters, digits, '-', '_' in labels of 1 to
// 63, at most 253 in all).
func validName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func portNumber(p string) (int, bool) {
	if len(p) > 5 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return 0, false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n, n <= 65535
}

// Control is a net.Dialer Control hook: it runs after resolution, before
// each connect, on the address actually dialed.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: dial %s %q: %w", ErrForbidden, network, address, err)
	}
	return g.CheckAddr(ap.Addr())
}

// DialContext dials addr ("host:port") for an HTTP transport: hosts on
// the allow-list by name are dialed as they resolve; everything else is
// checked on each resolved address just before connecting.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("netguard: dial %q: %w", addr, err)
	}
	d := &net.Dialer{Timeout: g.timeout, KeepAlive: 30 * time.Second, Resolver: g.resolver}
	if _, perr := netip.ParseAddr(host); perr != nil && g.allowedName(host) {
		return d.DialContext(ctx, network, addr)
	}
	d.Control = g.Control
	return d.DialContext(ctx, network, addr)
}
