package vodapi

import (
	"net"
	"syscall"
)

// cork sets TCP_CORK on tc and returns how to lift it, which sends what is
// queued at once.
func cork(tc *net.TCPConn) func() {
	rc, err := tc.SyscallConn()
	if err != nil {
		return func() {}
	}
	set := func(v int) {
		_ = rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, v) })
	}
	set(1)
	return func() { set(0) }
}
