package proxy

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/origin/rtmpwire"
)

// dialNode connects to a node's RTMP address, does the client side of the
// simple handshake and writes replay (the client's bytes so far) after C2,
// all within timeout. The connection is returned without deadlines.
func dialNode(ctx context.Context, n catalog.Node, timeout time.Duration, replay []byte) (net.Conn, error) {
	// The registry validated it; checked again because a route must never
	// lead anywhere but to a host:port.
	if err := catalog.ValidHostPort(n.RTMP); err != nil {
		return nil, fmt.Errorf("node %s: %w", n.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", n.RTMP)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.Name, err)
	}
	deadline, _ := ctx.Deadline()
	_ = c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	err = clientHandshake(c, replay)
	if !stop() || err != nil {
		_ = c.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("node %s (%s): %w", n.Name, n.RTMP, err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// clientHandshake is the simple RTMP handshake as a client (a zero version
// in C1, which every server answers without digests): C0 and C1, read S0,
// S1 and S2, then C2 echoing S1 — sent in one write with what follows it.
func clientHandshake(c io.ReadWriter, after []byte) error {
	c0c1 := make([]byte, 1+rtmpwire.HandshakeSize)
	c0c1[0] = 3
	binary.BigEndian.PutUint32(c0c1[1:5], uint32(time.Now().UnixMilli()))
	if _, err := rand.Read(c0c1[9:]); err != nil {
		return fmt.Errorf("handshake: random: %w", err)
	}
	if _, err := c.Write(c0c1); err != nil {
		return fmt.Errorf("handshake: write C0/C1: %w", err)
	}
	s := make([]byte, 1+2*rtmpwire.HandshakeSize)
	if _, err := io.ReadFull(c, s); err != nil {
		return fmt.Errorf("handshake: read S0/S1/S2: %w", err)
	}
	if s[0] != 3 {
		return fmt.Errorf("handshake: server answered RTMP version %d, want 3", s[0])
	}
	c2 := append(s[1:1+rtmpwire.HandshakeSize:1+rtmpwire.HandshakeSize], after...)
	if _, err := c.Write(c2); err != nil {
		return fmt.Errorf("handshake: write C2: %w", err)
	}
	return nil
}
