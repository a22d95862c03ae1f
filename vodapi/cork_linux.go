package vodapi

import (
	"net"
	"syscall"
)

// tcpCork sets and lifts TCP_CORK on one connection; lifting it sends
// what is queued at once. Its functions are made once, so that corking an
// answer allocates nothing.
type tcpCork struct {
	rc      syscall.RawConn
	on, off func(fd uintptr)
}

// newCork is tc's corking, or nil when its socket is out of reach.
func newCork(tc *net.TCPConn) *tcpCork {
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	opt := func(v int) func(uintptr) {
		return func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, v) }
	}
	return &tcpCork{rc: rc, on: opt(1), off: opt(0)}
}

// set runs f on the socket (a closed connection is left alone).
func (k *tcpCork) set(f func(uintptr)) { _ = k.rc.Control(f) }
