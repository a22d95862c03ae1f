//go:build !linux

package origin

import "net"

// setRcvLowat: elsewhere the poller's readiness need not honour
// SO_RCVLOWAT; reads then wake per arrival, bounded the same way.
func setRcvLowat(net.Conn, int) {}
