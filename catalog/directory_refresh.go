package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rewind-vod/rewind/infra/store"
)

// refreshParallel bounds the GETs of one refresh in flight at once: with
// many nodes, reading them one after the other could outlast the period.
const refreshParallel = 8

// warnEvery bounds the repeated warnings: a failing store, or one node
// writing bad documents at every beat.
const warnEvery = time.Minute

// docEntry is the last read of one heartbeat object.
type docEntry struct {
	version string // objectVersion when read; "" never matches
	node    *Node  // nil when the document is ignored
}

type ignoreLogged struct {
	reason string
	at     time.Time
}

// objectVersion identifies an object's content from its listing: the ETag
// when the store gives one, else size and modification time; "" if neither.
func objectVersion(o store.Info) string {
	if o.ETag != "" {
		return "etag " + o.ETag
	}
	if o.LastModified.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d@%d", o.Size, o.LastModified.UnixNano())
}

// Refresh rereads the registry: one LIST, and one GET per heartbeat whose
// listed version changed since it was read. On error the documents it
// could not read keep their last good read, and the rest is applied.
func (d *Directory) Refresh(ctx context.Context) error {
	d.refreshMu.Lock()
	defer d.refreshMu.Unlock()
	d.lastStart.Store(time.Now().UnixNano())
	err := d.refresh(ctx)
	if err != nil && ctx.Err() == nil { // a caller giving up is no store failure
		d.m.refreshErrors.Inc()
		if !d.failing || time.Since(d.lastWarn) >= warnEvery {
			d.log.Warn("node registry refresh failed; keeping the last view", "err", err)
			d.lastWarn = time.Now()
		}
		d.failing = true
	} else if err == nil && d.failing {
		d.failing = false
		d.log.Info("node registry refresh works again")
	}
	return err
}

func (d *Directory) refresh(ctx context.Context) error {
	res, err := d.st.list(ctx, NodesPrefix, store.ListOptions{Delimiter: "/"})
	if err != nil {
		d.publish(false)
		return fmt.Errorf("node directory: list %s: %w", NodesPrefix, err)
	}
	now := time.Now()
	docs := make(map[string]*docEntry, len(res.Objects))
	var toRead []store.Info
	for _, o := range res.Objects {
		if e, ok := d.docs[o.Key]; ok && e.version != "" && e.version == objectVersion(o) {
			docs[o.Key] = e
			continue
		}
		toRead = append(toRead, o)
	}
	read := make([]*docEntry, len(toRead))
	errs := make([]error, len(toRead))
	var g errgroup.Group
	g.SetLimit(refreshParallel)
	for i, o := range toRead {
		g.Go(func() error {
			read[i], errs[i] = d.read(ctx, o, now)
			return nil
		})
	}
	_ = g.Wait() // errors are per document, in errs
	for i, o := range toRead {
		switch {
		case errs[i] != nil:
			if e, ok := d.docs[o.Key]; ok {
				docs[o.Key] = e // keep the last good read; retried next time
			}
		case read[i] != nil:
			docs[o.Key] = read[i]
		}
	}
	changed := len(docs) != len(d.docs) || len(toRead) > 0
	d.docs = docs
	d.ignoreMu.Lock()
	for key := range d.ignoreLog {
		if _, ok := docs[key]; !ok {
			delete(d.ignoreLog, key)
		}
	}
	d.ignoreMu.Unlock()
	d.publish(changed)
	return errors.Join(errs...)
}

// read GETs one heartbeat and checks it. It returns nil, nil when the
// object went away after the LIST, an entry without a node for a
// document it ignores, and an error only for a failed read.
func (d *Directory) read(ctx context.Context, o store.Info, now time.Time) (*docEntry, error) {
	ver := objectVersion(o)
	name, ok := NodeFromKey(o.Key)
	if !ok {
		return d.ignore(o.Key, ver, ignoredBadKey, errors.New("not nodes/{node}.json with a valid node name")), nil
	}
	if o.Size > MaxNodeDocSize {
		return d.ignore(o.Key, ver, ignoredTooLarge, fmt.Errorf("%d bytes, at most %d", o.Size, MaxNodeDocSize)), nil
	}
	rc, info, err := d.st.get(ctx, o.Key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node directory: get %s: %w", o.Key, err)
	}
	b, err := io.ReadAll(io.LimitReader(rc, MaxNodeDocSize+1))
	_ = rc.Close()
	if err != nil {
		return nil, fmt.Errorf("node directory: read %s: %w", o.Key, err)
	}
	if v := objectVersion(info); v != "" {
		ver = v // what was read, should it have changed since the LIST
	}
	n, err := UnmarshalNode(b)
	switch {
	case err != nil:
		return d.ignore(o.Key, ver, ignoredCorrupt, err), nil
	case n.Name != name:
		return d.ignore(o.Key, ver, ignoredNameMismatch, fmt.Errorf("document of node %q", n.Name)), nil
	case n.Time.Sub(now) > d.cfg.Timeout:
		// Ignored for good, not only until the clock catches up: a forged
		// or far-ahead document must never count as a heartbeat.
		return d.ignore(o.Key, ver, ignoredFuture, fmt.Errorf("written at %s, %s ahead", n.Time.Format(time.RFC3339Nano), n.Time.Sub(now).Round(time.Millisecond))), nil
	}
	return &docEntry{version: ver, node: &n}, nil
}

// ignore counts one ignored document version and logs it, at most once
// per version (it is not read again while unchanged) and, for the same
// key and reason, at most once per warnEvery.
func (d *Directory) ignore(key, ver, reason string, why error) *docEntry {
	d.m.ignored.WithLabelValues(reason).Inc()
	d.logIgnored(key, reason, why)
	return &docEntry{version: ver}
}

// logIgnored runs on the GET goroutines of a refresh, hence its own lock.
func (d *Directory) logIgnored(key, reason string, why error) {
	d.ignoreMu.Lock()
	prev, seen := d.ignoreLog[key]
	now := time.Now()
	logIt := !seen || prev.reason != reason || now.Sub(prev.at) >= warnEvery
	if logIt {
		d.ignoreLog[key] = ignoreLogged{reason: reason, at: now}
	}
	d.ignoreMu.Unlock()
	if logIt {
		d.log.Warn("ignoring node heartbeat", "key", key, "reason", reason, "err", why)
	}
}

// publish replaces the view when the documents changed, and updates the
// alive gauge and the log of nodes coming and going in any case (a node
// dies by its heartbeat aging, with nothing changing in the store).
func (d *Directory) publish(changed bool) {
	v := d.view.Load()
	if changed {
		v = &dirView{live: map[string][]streamAt{}, recent: map[string][]streamAt{}}
		for _, e := range d.docs {
			if e.node != nil {
				v.nodes = append(v.nodes, e.node)
			}
		}
		slices.SortFunc(v.nodes, func(a, b *Node) int { return strings.Compare(a.Name, b.Name) })
		for _, n := range v.nodes {
			for _, s := range n.Live {
				v.live[s.Stream] = append(v.live[s.Stream], streamAt{node: n, since: s.Since})
			}
			for _, s := range n.Recent {
				v.recent[s.Stream] = append(v.recent[s.Stream], streamAt{node: n, since: s.Since})
			}
		}
		d.view.Store(v)
	}
	now := time.Now()
	alive := make(map[string]bool, len(v.nodes))
	for _, n := range v.nodes {
		if n.Alive(now, d.cfg.Timeout) {
			alive[n.Name] = true
			if !d.aliveSeen[n.Name] {
				d.log.Info("node alive", "node", n.Name, "rtmp", n.RTMP, "http", n.HTTP, "state", n.State)
			}
		}
	}
	for name := range d.aliveSeen {
		if !alive[name] {
			d.log.Info("node gone (heartbeat removed or older than the timeout)", "node", name, "timeout", d.cfg.Timeout)
		}
	}
	d.aliveSeen = alive
	d.m.alive.Set(float64(len(alive)))
}
