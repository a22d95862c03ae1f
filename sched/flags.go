package sched

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/rewind-vod/rewind/sched/policy"
)

// ParseCDNs reads the CDNs from one flag's text: CDNs apart by white
// space, each "name;key=value;..." with the keys hls, flv, rtmp, push,
// probe, clone-of and billing (a policy.ParseBilling rule), e.g.
//
//	cdn-a;hls=https://a.example.net;billing=per_gb:10000@0.085,*@0.06
//	cdn-b;hls=https://b.example.net;push=rtmp://in.b.example.net/{app}/{name};billing=p95:price=1.75,commit=100
//
// The parts validate the values (names, URLs, templates) when they are
// built; this only checks the shape.
func ParseCDNs(s string) ([]CDN, error) {
	var out []CDN
	seen := map[string]bool{}
	for _, spec := range strings.Fields(s) {
		fields := strings.Split(spec, ";")
		c := CDN{Name: fields[0]}
		if c.Name == "" || strings.Contains(c.Name, "=") {
			return nil, fmt.Errorf("sched: CDN %q: must start with its name", spec)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("sched: CDN %q configured twice", c.Name)
		}
		seen[c.Name] = true
		keys := map[string]bool{}
		for _, f := range fields[1:] {
			k, v, ok := strings.Cut(f, "=")
			if !ok || v == "" {
				return nil, fmt.Errorf("sched: CDN %s: %q is not key=value", c.Name, f)
			}
			if keys[k] {
				return nil, fmt.Errorf("sched: CDN %s: %s given twice", c.Name, k)
			}
			keys[k] = true
			switch k {
			case "hls":
				c.HLSBase = v
			case "flv":
				c.FLV = v
			case "rtmp":
				c.RTMP = v
			case "push":
				c.Push = v
			case "probe":
				c.Probe = v
			case "clone-of":
				c.CloneOf = v
			case "billing":
				b, err := policy.ParseBilling(v)
				if err != nil {
					return nil, fmt.Errorf("sched: CDN %s: %w", c.Name, err)
				}
				c.Billing = b
			default:
				return nil, fmt.Errorf("sched: CDN %s: unknown key %q (hls, flv, rtmp, push, probe, clone-of, billing)", c.Name, k)
			}
		}
		if c.HLSBase == "" {
			return nil, fmt.Errorf("sched: CDN %s: hls= is required", c.Name)
		}
		out = append(out, c)
	}
	return out, nil
}

// FormatCDNs is ParseCDNs' form of cdns.
func FormatCDNs(cdns []CDN) string {
	var specs []string
	for _, c := range cdns {
		parts := []string{c.Name}
		for _, kv := range [][2]string{{"hls", c.HLSBase}, {"flv", c.FLV}, {"rtmp", c.RTMP}, {"push", c.Push},
			{"probe", c.Probe}, {"clone-of", c.CloneOf}} {
			if kv[1] != "" {
				parts = append(parts, kv[0]+"="+kv[1])
			}
		}
		if c.Billing.Model != "" && c.Billing.Model != policy.Free {
			parts = append(parts, "billing="+c.Billing.String())
		}
		specs = append(specs, strings.Join(parts, ";"))
	}
	return strings.Join(specs, " ")
}

// ParseRegions reads the client prefix -> region map from one flag's
// text: regions apart by white space, each "name=prefix,prefix", e.g.
// "eu=192.0.2.0/24,2001:db8::/32 us=198.51.100.0/24".
func ParseRegions(s string) (map[netip.Prefix]string, error) {
	out := map[netip.Prefix]string{}
	for _, spec := range strings.Fields(s) {
		name, list, ok := strings.Cut(spec, "=")
		if !ok || name == "" || list == "" {
			return nil, fmt.Errorf("sched: region %q: want name=prefix[,prefix]", spec)
		}
		for _, p := range strings.Split(list, ",") {
			pfx, err := netip.ParsePrefix(p)
			if err != nil {
				return nil, fmt.Errorf("sched: region %s: %w", name, err)
			}
			if pfx != pfx.Masked() {
				return nil, fmt.Errorf("sched: region %s: prefix %s has host bits set (%s)", name, p, pfx.Masked())
			}
			if prev, dup := out[pfx]; dup {
				return nil, fmt.Errorf("sched: prefix %s is in regions %s and %s", pfx, prev, name)
			}
			out[pfx] = name
		}
	}
	return out, nil
}

// FormatRegions is ParseRegions' form of m.
func FormatRegions(m map[netip.Prefix]string) string {
	by := map[string][]string{}
	for p, r := range m {
		by[r] = append(by[r], p.String())
	}
	var specs []string
	for _, r := range slices.Sorted(maps.Keys(by)) {
		slices.Sort(by[r])
		specs = append(specs, r+"="+strings.Join(by[r], ","))
	}
	return strings.Join(specs, " ")
}

// PushAddrs maps the host:port of each CDN's push address (the RTMP
// ingest the origin's relay targets) to the CDN, so that relay faults
// count against the CDN they hit. The port defaults to RTMP's 1935, as the
// relay dials it; templates whose host is not literal are left out.
func PushAddrs(cdns []CDN) map[string]string {
	out := map[string]string{}
	for _, c := range cdns {
		if c.Push == "" {
			continue
		}
		u, err := url.Parse(c.Push)
		if err != nil || u.Host == "" || strings.ContainsAny(u.Host, "{}") {
			continue
		}
		addr := u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "1935")
		}
		out[addr] = c.Name
	}
	return out
}
