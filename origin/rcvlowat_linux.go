package origin

import (
	"net"
	"syscall"
)

// setRcvLowat sets SO_RCVLOWAT on a TCP connection (see rcvLowat); any
// other connection, or a failure, leaves reads as they are.
func setRcvLowat(c net.Conn, n int) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, n)
	})
}
