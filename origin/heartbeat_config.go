package origin

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

// Heartbeat defaults applied by New to zero Config fields.
const (
	DefaultHeartbeatInterval = 2 * time.Second
	DefaultRecentWindow      = 60 * time.Second
)

// NodeRegistry is where the node's heartbeat goes (*catalog.Registry). An
// interface, so that the origin links no store backend.
type NodeRegistry interface {
	Beat(ctx context.Context, n catalog.Node) error
	Remove(ctx context.Context, node string) error
}

var _ NodeRegistry = (*catalog.Registry)(nil)

// normalizeCluster checks the heartbeat settings. With a Registry, every
// address the heartbeat will carry is known (or, for an RTMP port 0, known
// at Serve) and valid, so a heartbeat never fails validation later.
func normalizeCluster(cfg *Config) error {
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"HeartbeatInterval", &cfg.HeartbeatInterval, DefaultHeartbeatInterval},
		{"RecentWindow", &cfg.RecentWindow, DefaultRecentWindow},
	} {
		if *f.v < 0 {
			return fmt.Errorf("origin: %s is negative (%s)", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if cfg.Registry == nil {
		return nil
	}
	// normalize sanitizes the name; this guards the heartbeat key should
	// that ever change.
	if err := catalog.ValidNode(cfg.Node); err != nil {
		return fmt.Errorf("origin: the node registry needs a node name [A-Za-z0-9_]{1,%d}: %w", catalog.MaxNodeLen, err)
	}
	if cfg.MaxPublishers > catalog.MaxNodeStreams {
		return fmt.Errorf("origin: MaxPublishers %d: a heartbeat lists at most %d live streams", cfg.MaxPublishers, catalog.MaxNodeStreams)
	}
	if cfg.AdvertiseRTMP != "" {
		if err := catalog.ValidHostPort(cfg.AdvertiseRTMP); err != nil {
			return fmt.Errorf("origin: advertised RTMP %w", err)
		}
	} else if _, err := concreteAddr(cfg.Addr, true); err != nil {
		return fmt.Errorf("origin: set the advertised RTMP address: %w", err)
	}
	if cfg.AdvertiseHTTP != "" {
		if err := catalog.ValidHostPort(cfg.AdvertiseHTTP); err != nil {
			return fmt.Errorf("origin: advertised HTTP %w", err)
		}
		return nil
	}
	addr, err := concreteAddr(cfg.HTTPAddr, false)
	if err != nil {
		return fmt.Errorf("origin: set the advertised HTTP address: %w", err)
	}
	cfg.AdvertiseHTTP = addr
	return nil
}

// concreteAddr is listen as an address peers can reach: a concrete IP and
// a port (0 allowed when zeroPort, to be resolved once listening).
func concreteAddr(listen string, zeroPort bool) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", listen, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsUnspecified() {
		return "", fmt.Errorf("listen address %q is not a concrete IP that peers can reach", listen)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 || (p == 0 && !zeroPort) {
		return "", fmt.Errorf("listen address %q: no usable port", listen)
	}
	addr := net.JoinHostPort(ip.String(), strconv.Itoa(p))
	if p == 0 {
		return addr, nil
	}
	if err := catalog.ValidHostPort(addr); err != nil {
		return "", err
	}
	return addr, nil
}
