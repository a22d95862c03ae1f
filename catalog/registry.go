package catalog

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/infra/store"
)

// Registry writes a node's heartbeat into the store: the writing half of
// the node registry (Directory is the reading half). One PUT per beat, one
// DELETE on a clean stop; nothing else.
type Registry struct {
	st countedStore
}

// NewRegistry writes heartbeats to st; its store requests are counted on
// reg (nil: not registered).
func NewRegistry(st store.Store, reg prometheus.Registerer) *Registry {
	return &Registry{st: countedStore{st: st, m: newRegistryMetrics(reg)}}
}

// Beat validates n and writes it as NodeKey(n.Name). The caller sets Time:
// the readers judge the node alive by it.
func (r *Registry) Beat(ctx context.Context, n Node) error {
	b, err := MarshalNode(n)
	if err != nil {
		return err
	}
	if err := r.st.put(ctx, NodeKey(n.Name), b, "application/json"); err != nil {
		return fmt.Errorf("heartbeat %s: %w", n.Name, err)
	}
	return nil
}

// Remove deletes the node's heartbeat, on a clean stop, so that the other
// nodes and the proxies forget it at their next refresh instead of after
// the dead-node timeout.
func (r *Registry) Remove(ctx context.Context, node string) error {
	if err := ValidNode(node); err != nil {
		return fmt.Errorf("remove heartbeat: %w", err)
	}
	if err := r.st.delete(ctx, NodeKey(node)); err != nil {
		return fmt.Errorf("remove heartbeat %s: %w", node, err)
	}
	return nil
}
