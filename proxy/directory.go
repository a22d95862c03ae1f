package proxy

import (
	"context"

	"github.com/rewind-vod/rewind/catalog"
)

// Directory is what the proxy needs of the node registry; catalog.Directory
// implements it. Kept to three methods so that tests can hand the proxy
// fixed node lists that point at real servers.
type Directory interface {
	// Nodes are the alive nodes (ready and draining), sorted by name.
	Nodes() []catalog.Node
	// Live is the alive node where stream ("app/name") is live; it
	// refreshes its view once on a miss, so a publish that started a
	// moment ago is found.
	Live(ctx context.Context, stream string) (catalog.Node, bool)
	// Recent is an alive node the stream ended on a short while ago.
	Recent(stream string) (catalog.Node, bool)
}
