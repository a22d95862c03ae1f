package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/media"
)

// upstreamStatusError is a live node's answer other than 200.
type upstreamStatusError struct {
	code int
	msg  string // the start of its body, for the log
}

func (e *upstreamStatusError) Error() string {
	return fmt.Sprintf("upstream answered %d %s: %s", e.code, http.StatusText(e.code), e.msg)
}

// pump runs one pull: it finds the live node, requests the stream and,
// from its first start point (a keyframe; audio for a stream without
// video), feeds every frame into a pulled liveStream. It returns that
// stream's feed (nil if it never went live) and why the pull ended.
func (pl *pull) pump() (*feed, error) {
	pm := pl.pm
	// Until the stream is live here, one deadline bounds it all.
	startDeadline := time.AfterFunc(pm.timeout, func() { pl.cancel(errPullTimeout) })
	defer startDeadline.Stop()

	node, ok := pm.loc.Live(pl.ctx, pl.key)
	if err := pl.cause(); err != nil {
		return nil, err
	}
	if !ok {
		return nil, errNotLocated
	}
	if node.Name == pm.self {
		return nil, fmt.Errorf("%w (node %s)", errLocatedSelf, node.Name)
	}
	if err := catalog.ValidHostPort(node.HTTP); err != nil {
		return nil, fmt.Errorf("%w: node %s: %v", errNoAddress, node.Name, err)
	}
	log := pm.log.With("stream", pl.key, "node", node.Name, "addr", node.HTTP)
	pm.m.started.Inc()
	pm.m.active.Inc()
	defer pm.m.active.Dec()
	start := time.Now()
	log.Info("pull started")
	resp, err := pl.request(node)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()

	body := &countingReader{r: resp.Body, c: pm.m.bytes}
	fr := newFLVReader(body, MaxPullTagSize)
	if err := fr.readHeader(); err != nil {
		return nil, pl.why(err)
	}
	// The live node holds its players, this pull among them, silent for its
	// reconnect grace when its publisher drops (playerswait.go). The nodes
	// of a cluster share their settings, so this node's grace is theirs.
	idle := pullIdleTimeout + pm.p.cfg.ReconnectGrace
	var (
		fd     *feed
		pre    startFrames
		video  = fr.Video
		frames int
		stall  *time.Timer
	)
	defer func() {
		if stall != nil {
			stall.Stop()
		}
		log.Debug("pull read", "frames", frames, "bytes", body.n)
	}()
	for {
		f, err := fr.next()
		if err != nil {
			return fd, pl.why(err)
		}
		frames++
		if fd != nil {
			stall.Reset(idle)
			fd.WriteFrame(f)
			continue
		}
		switch {
		case f.Type == media.FrameData:
			pre.meta = &f
		case isSeqHeader(f) && f.Type == media.FrameVideo:
			pre.avc, video = &f, true
		case isSeqHeader(f):
			pre.aac = &f
		case video && isKeyframe(f), !video && f.Type == media.FrameAudio:
			if fd, err = pm.p.openPulled(pl); err != nil {
				return nil, err
			}
			for _, h := range pre.list() {
				fd.WriteFrame(h)
			}
			fd.WriteFrame(f)
			startDeadline.Stop()
			stall = time.AfterFunc(idle, func() { pl.cancel(errUpstreamStalled) })
			pl.markLive(fd.ls)
			log.Info("pull live", "after", time.Since(start).Round(time.Millisecond))
		}
		// Anything else before the first start point cannot be decoded
		// without what came before it: dropped.
	}
}

// request asks node for the stream as HTTP-FLV, as a pull.
func (pl *pull) request(node catalog.Node) (*http.Response, error) {
	u := url.URL{Scheme: "http", Host: node.HTTP, Path: "/" + pl.st.App + "/" + pl.st.Name + ".flv", RawQuery: pl.query.Encode()}
	req, err := http.NewRequestWithContext(pl.ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errConnect, err)
	}
	req.Header.Set(PullHeader, pl.pm.self)
	resp, err := pl.pm.client.Do(req)
	if err != nil {
		if c := pl.cause(); c != nil {
			return nil, c
		}
		return nil, fmt.Errorf("%w: node %s: %v", errConnect, node.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, &upstreamStatusError{code: resp.StatusCode, msg: strings.TrimSpace(string(msg))}
	}
	return resp, nil
}

// markLive lets the waiting players join and arms the linger until the
// first of them does.
func (pl *pull) markLive(ls *liveStream) {
	pl.live = true
	close(pl.ready)
	ls.mu.Lock()
	ls.playersChanged()
	ls.mu.Unlock()
}

// cause is why the pull was cancelled (idle, timeout, a local publish,
// shutdown, a stalled upstream), or nil while it runs.
func (pl *pull) cause() error {
	if pl.ctx.Err() == nil {
		return nil
	}
	return context.Cause(pl.ctx)
}

// why is the reason a read ended: the cancellation cause if the pull was
// cancelled (the read error is then only its echo), else the read error.
func (pl *pull) why(err error) error {
	if c := pl.cause(); c != nil {
		return c
	}
	if errors.Is(err, io.EOF) {
		return errUpstreamEnded
	}
	return fmt.Errorf("read upstream: %w", err)
}

// startFrames are the frames a pulled stream starts with: the newest
// metadata and sequence headers seen before its first start point.
type startFrames struct {
	meta, avc, aac *media.Frame
}

func (s *startFrames) list() []media.Frame {
	var out []media.Frame
	for _, f := range []*media.Frame{s.meta, s.avc, s.aac} {
		if f != nil {
			out = append(out, *f)
		}
	}
	return out
}

// countingReader counts the bytes read from an upstream.
type countingReader struct {
	r io.Reader
	n int64
	c prometheus.Counter
}

func (cr *countingReader) Read(b []byte) (int, error) {
	n, err := cr.r.Read(b)
	cr.n += int64(n)
	cr.c.Add(float64(n))
	return n, err
}
