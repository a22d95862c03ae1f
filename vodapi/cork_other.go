//go:build !linux

package vodapi

import "net"

// tcpCork is Linux's TCP_CORK; elsewhere answers are written as they come.
type tcpCork struct{ on, off func(uintptr) }

func newCork(*net.TCPConn) *tcpCork { return nil }

func (*tcpCork) set(func(uintptr)) {}
