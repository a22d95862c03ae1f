package vodapi

import (
	"context"
	"net"
	"net/http"
)

// connKey holds the request's connection's *tcpCork in its context
// (ConnContext).
type connKey struct{}

// ConnContext is for http.Server.ConnContext: it lets a large playlist
// answer cork its TCP connection (cork_linux.go), so that net/http's
// header write and the body leave in full segments instead of a small
// first one. Without it answers are written as they come. The corking is
// made here, once per connection, so that a warm answer does not pay for
// a new raw connection and closures on every request.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return ctx
	}
	k := newCork(tc)
	if k == nil {
		return ctx
	}
	return context.WithValue(ctx, connKey{}, k)
}

// corkMin is the body size from which corking pays: below it the header
// and the body fit net/http's one buffered write anyway.
const corkMin = 16 << 10

// corked runs write with r's connection corked when it is a TCP
// connection and the body is large.
func corked(r *http.Request, size int, write func() error) error {
	if size < corkMin {
		return write()
	}
	k, ok := r.Context().Value(connKey{}).(*tcpCork)
	if !ok {
		return write()
	}
	k.set(k.on)
	defer k.set(k.off)
	return write()
}
