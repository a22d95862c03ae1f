package vodapi

import (
	"context"
	"net"
	"net/http"
)

// connKey holds the request's connection in its context (ConnContext).
type connKey struct{}

// ConnContext is for http.Server.ConnContext: it lets a large playlist
// answer cork its TCP connection (cork_linux.go), so that net/http's
// header write and the body leave in full segments instead of a small
// first one. Without it answers are written as they come.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
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
	tc, ok := r.Context().Value(connKey{}).(*net.TCPConn)
	if !ok {
		return write()
	}
	uncork := cork(tc)
	defer uncork()
	return write()
}
