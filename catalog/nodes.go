package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// Node states in a heartbeat.
const (
	NodeReady    = "ready"    // takes new publishes
	NodeDraining = "draining" // keeps its live streams, takes no new publishes
)

// NodeVersion is the heartbeat format version this package writes and reads.
const NodeVersion = 1

// NodesPrefix is where the heartbeats live; one object per node.
const NodesPrefix = "nodes/"

// MaxNodeDocSize bounds a heartbeat document; one listing 500 live streams
// and as many recent ones is about 100 KiB.
const MaxNodeDocSize = 1 << 20

// MaxNodeStreams bounds each stream list of a heartbeat; a writer keeps
// its lists within it (the origin checks MaxPublishers against it).
const MaxNodeStreams = 10000

// NodeKey is the heartbeat object of node (relative to the store prefix).
func NodeKey(node string) string { return NodesPrefix + node + ".json" }

// NodeFromKey is the node name of a heartbeat key, or false for anything
// else under NodesPrefix.
func NodeFromKey(key string) (string, bool) {
	name, ok := strings.CutPrefix(key, NodesPrefix)
	if !ok {
		return "", false
	}
	name, ok = strings.CutSuffix(name, ".json")
	if !ok || ValidNode(name) != nil {
		return "", false
	}
	return name, true
}

// Node is a node's heartbeat, {prefix}nodes/{node}.json: how the other
// nodes and the proxies find it, whether it takes publishes, how loaded it
// is, and which streams are live on it. The store is the only shared state
// of a cluster, so this document is the whole node registry.
type Node struct {
	Version int    `json:"version"`
	Name    string `json:"node"`
	// RTMP and HTTP are the node's internal addresses (host:port), as the
	// proxies and the other nodes reach it (--advertise-rtmp, --advertise-http).
	RTMP  string    `json:"rtmp"`
	HTTP  string    `json:"http"`
	State string    `json:"state"` // NodeReady or NodeDraining
	Load  NodeLoad  `json:"load"`
	Time  time.Time `json:"time"` // when the heartbeat was written
	// Live lists the streams live on the node now; Recent the ones that
	// ended on it a short while ago (so a publisher that comes back is
	// routed to the node it left).
	Live   []NodeStream `json:"live"`
	Recent []NodeStream `json:"recent,omitempty"`
}

// NodeLoad is what a node reports of its load.
type NodeLoad struct {
	Publishers    int     `json:"publishers"`
	MaxPublishers int     `json:"max_publishers"`
	IngestBPS     float64 `json:"ingest_bps"` // bits per second in
	Players       int     `json:"players"`
	CPU           float64 `json:"cpu"` // cores busy (1.5 = one and a half cores)
}

// NodeStream is a stream in a heartbeat.
type NodeStream struct {
	Stream string    `json:"stream"` // "app/name"
	Run    string    `json:"run,omitempty"`
	Since  time.Time `json:"since"` // publish start (Live) or end (Recent)
}

// ValidNode checks a node name as it becomes a storage key: the characters
// SanitizeNode keeps, 1 to MaxNodeLen of them.
func ValidNode(name string) error {
	if name == "" || len(name) > MaxNodeLen {
		return fmt.Errorf("node name %s: want 1 to %d characters", quoteTrunc(name), MaxNodeLen)
	}
	for i := 0; i < len(name); i++ {
		if !nodeChar(name[i]) {
			return fmt.Errorf("node name %s: want [A-Za-z0-9_]", quoteTrunc(name))
		}
	}
	return nil
}

// ValidHostPort checks an advertised address: host:port with a numeric
// port 1-65535 and a host that is an IP address or a DNS name, so that a
// corrupt heartbeat can never route a connection to something else (a
// path, a user, an empty host).
func ValidHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %s: %w", quoteTrunc(addr), err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != port {
		return fmt.Errorf("address %s: bad port", quoteTrunc(addr))
	}
	if net.ParseIP(host) != nil {
		if ip := net.ParseIP(host); ip.IsUnspecified() {
			return fmt.Errorf("address %s: unspecified host (advertise the address peers reach)", quoteTrunc(addr))
		}
		return nil
	}
	if host == "" || len(host) > 253 {
		return fmt.Errorf("address %s: bad host", quoteTrunc(addr))
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("address %s: bad host", quoteTrunc(addr))
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Errorf("address %s: bad host", quoteTrunc(addr))
			}
		}
	}
	return nil
}

// Validate checks everything a reader relies on.
func (n *Node) Validate() error {
	if n.Version != NodeVersion {
		return fmt.Errorf("heartbeat version %d, want %d", n.Version, NodeVersion)
	}
	if err := ValidNode(n.Name); err != nil {
		return err
	}
	if err := ValidHostPort(n.RTMP); err != nil {
		return fmt.Errorf("rtmp %w", err)
	}
	if n.HTTP != "" {
		if err := ValidHostPort(n.HTTP); err != nil {
			return fmt.Errorf("http %w", err)
		}
	}
	if n.State != NodeReady && n.State != NodeDraining {
		return fmt.Errorf("node state %s: want %q or %q", quoteTrunc(n.State), NodeReady, NodeDraining)
	}
	if n.Time.IsZero() {
		return errors.New("heartbeat without a time")
	}
	l := n.Load
	for _, v := range []float64{l.IngestBPS, l.CPU} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("load %v out of range", v)
		}
	}
	if l.Publishers < 0 || l.MaxPublishers < 0 || l.Players < 0 {
		return errors.New("negative load")
	}
	for _, list := range [][]NodeStream{n.Live, n.Recent} {
		if len(list) > MaxNodeStreams {
			return fmt.Errorf("%d streams in a heartbeat, at most %d", len(list), MaxNodeStreams)
		}
		for _, s := range list {
			if _, err := ParseStream(s.Stream); err != nil {
				return err
			}
			if s.Run != "" {
				if err := ValidRunID(s.Run); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// MarshalNode validates n and encodes it.
func MarshalNode(n Node) ([]byte, error) {
	if err := n.Validate(); err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	b, err := json.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	if len(b) > MaxNodeDocSize {
		return nil, fmt.Errorf("heartbeat: %d bytes, at most %d", len(b), MaxNodeDocSize)
	}
	return b, nil
}

// UnmarshalNode decodes and validates a heartbeat; unknown fields are
// allowed (a newer writer), anything a reader relies on is checked.
func UnmarshalNode(b []byte) (Node, error) {
	if len(b) > MaxNodeDocSize {
		return Node{}, fmt.Errorf("heartbeat: %d bytes, at most %d", len(b), MaxNodeDocSize)
	}
	var n Node
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&n); err != nil {
		return Node{}, fmt.Errorf("heartbeat: %w", err)
	}
	if dec.More() {
		return Node{}, errors.New("heartbeat: trailing data")
	}
	if err := n.Validate(); err != nil {
		return Node{}, fmt.Errorf("heartbeat: %w", err)
	}
	if len(n.Recent) == 0 {
		n.Recent = nil // as MarshalNode writes it (omitempty), so a read survives a write
	}
	return n, nil
}

// Alive reports whether a heartbeat counts at now: not older than timeout,
// and not from further in the future than timeout (a clock far ahead, or a
// forged document, must not pin a node alive).
func (n *Node) Alive(now time.Time, timeout time.Duration) bool {
	age := now.Sub(n.Time)
	return age <= timeout && age >= -timeout
}
