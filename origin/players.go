package origin

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/httpjson"
	"github.com/rewind-vod/rewind/media"
)

// PlayersConfig tunes live playback.
type PlayersConfig struct {
	// Queue is how many frames a player may fall behind before it is
	// dropped (default 1024, about 15 s of 30 fps video with audio).
	Queue int
	// Secrets, when set, require a signed play query: exp and sig = hex
	// HMAC-SHA256(secret, "play:{app}/{name}:{exp}"), as for replay.
	Secrets []string
	// MaxGOPFrames bounds the GOP cache; a longer GOP is not cached (a new
	// player then waits for the next keyframe). Default 2048.
	MaxGOPFrames int

	// Upstreams, when set, turns on node-to-node pull (pull.go): a player
	// asking for a stream that is not live here gets it pulled from the
	// node the Locator names. Nil: such a player gets "not live".
	Upstreams Locator
	// Self is this node's name (the origin's Config.Node, default: the host
	// name): a Locator answer naming it is never pulled from, and it is
	// sent upstream in the PullHeader.
	Self string
	// PullLinger is how long a pulled stream stays up after its last
	// player left, so a player that reconnects finds it (default 5 s).
	PullLinger time.Duration
	// PullTimeout bounds the start of a pull: locating the node,
	// connecting, and its first keyframe (default 5 s).
	PullTimeout time.Duration

	// ReconnectGrace is how long the players of a stream whose publisher
	// went away (connection lost, unpublish) stay connected, silent, for
	// a publisher of the stream to come back; the new run then continues
	// on their connections (playerswait.go). Zero or negative: none, the
	// players end with the run. DefaultPlayersConfig, and so the command
	// line, has DefaultReconnectGrace; a zero PlayersConfig has none. A
	// takeover (a publisher replacing a live one) keeps the players
	// whatever the grace.
	ReconnectGrace time.Duration

	// MergeWrite is how much of a stream, in media time, goes to its
	// players at once: frames wait until that much has come, so that a
	// player wakes and writes once per MergeWrite rather than once per
	// frame (as SRS's merged write). It adds up to that much latency
	// (default DefaultMergeWrite; negative: none, each frame goes out as
	// it comes).
	MergeWrite time.Duration
}

// DefaultMergeWrite is DefaultPlayersConfig's MergeWrite: a few frames,
// next to nothing for a player that buffers a second or more.
const DefaultMergeWrite = 100 * time.Millisecond

// Players is a Sink that fans each live stream out to HTTP-FLV players. It
// keeps the sequence headers, the metadata and the frames since the last
// keyframe (a GOP cache), so a new player starts on a keyframe at once.
// Each player has a bounded queue; one that falls behind is dropped, never
// slowing the publisher, the other sinks or the other players. With
// Upstreams set, a stream live on another node is pulled from it and fanned
// out here the same way (pull.go); call Close at shutdown to stop the pulls.
// Players stay connected across a takeover and a publisher's return within
// ReconnectGrace: the next run goes on on their connections (playerswait.go).
type Players struct {
	cfg     PlayersConfig
	log     *slog.Logger
	mergeMS int64 // cfg.MergeWrite in ms

	mu      sync.Mutex
	streams map[string]*liveStream
	pulls   *pulls // nil without Upstreams
	// noWait: no publisher can come back (the node drains or stops), so
	// players end with their run, and those waiting end now.
	noWait bool

	players  *prometheus.GaugeVec // by protocol
	dropped  prometheus.Counter
	bytesOut prometheus.Counter
	resumed  prometheus.Counter
	expired  prometheus.Counter
}

// Player protocols, the values of the players metric's protocol label.
const (
	protoFLV  = "http-flv"
	protoRTMP = "rtmp"
)

// DefaultPlayersConfig is what NewPlayers gives zero fields (but
// ReconnectGrace, whose zero means none), and what the command line
// starts from.
func DefaultPlayersConfig() PlayersConfig {
	return PlayersConfig{
		Queue:          1024,
		MaxGOPFrames:   2048,
		Self:           defaultNode(),
		PullLinger:     DefaultPullLinger,
		PullTimeout:    DefaultPullTimeout,
		ReconnectGrace: DefaultReconnectGrace,
		MergeWrite:     DefaultMergeWrite,
	}
}

// NewPlayers makes the live playback sink; reg may be nil.
func NewPlayers(cfg PlayersConfig, log *slog.Logger, reg prometheus.Registerer) *Players {
	d := DefaultPlayersConfig()
	if cfg.Queue <= 0 {
		cfg.Queue = d.Queue
	}
	if cfg.MaxGOPFrames <= 0 {
		cfg.MaxGOPFrames = d.MaxGOPFrames
	}
	cfg.ReconnectGrace = max(cfg.ReconnectGrace, 0)
	if cfg.MergeWrite == 0 {
		cfg.MergeWrite = d.MergeWrite
	}
	cfg.MergeWrite = max(cfg.MergeWrite, 0)
	if log == nil {
		log = slog.Default()
	}
	f := promauto.With(reg)
	p := &Players{
		cfg:     cfg,
		log:     log.With("component", "players"),
		mergeMS: cfg.MergeWrite.Milliseconds(),
		streams: map[string]*liveStream{},
		players: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rewind_origin_players", Help: "Live players connected, by protocol (http-flv, rtmp).",
		}, []string{"protocol"}),
		dropped: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_origin_player_drops_total", Help: "Players dropped for falling behind.",
		}),
		bytesOut: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_origin_bytes_out_total", Help: "Media bytes sent to players.",
		}),
		resumed: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_origin_player_resumes_total",
			Help: "Live streams whose connected players went on with a new run (a takeover, or a publisher back within the reconnect grace).",
		}),
		expired: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_origin_player_grace_expired_total",
			Help: "Live streams whose waiting players were closed because no publisher came back within the reconnect grace.",
		}),
	}
	p.players.WithLabelValues(protoFLV)
	p.players.WithLabelValues(protoRTMP)
	pm := newPullMetrics(f)
	if cfg.Upstreams != nil {
		p.pulls = newPulls(p, pm)
	}
	return p
}

// Name labels this sink in metrics.
func (p *Players) Name() string { return "players" }

// ServeFLV answers GET /{app}/{name}.flv with the live stream as FLV. It
// returns false when the path is not of that form (for the caller's mux).
func (p *Players) ServeFLV(w http.ResponseWriter, r *http.Request) bool {
	app, file, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	name, isFLV := strings.CutSuffix(file, ".flv")
	if !ok || !isFLV || strings.Contains(name, "/") {
		return false
	}
	st, err := catalog.NewStream(app, name)
	if err != nil {
		httpError(w, http.StatusBadRequest, "bad_stream", err.Error())
		return true
	}
	sub, err := p.subscribe(r.Context(), st, r.URL.Query(), protoFLV, r.Header.Get(PullHeader))
	if err != nil {
		status, code := playErrorStatus(err)
		httpError(w, status, code, err.Error())
		return true
	}
	defer sub.leave()

	flags := byte(0x04) // audio
	if sub.hasVideo {
		flags |= 0x01
	}
	out, done, err := p.openFLV(w, r)
	if err != nil {
		p.log.Debug("player gone before the first byte", "err", err)
		return true
	}
	defer out.Close()
	fo := &flvOut{conn: out, count: &sub.count}
	// The file header goes out with the first tags.
	fo.batch.shared([]byte{'F', 'L', 'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0})
	sub.pump(done, fo)
	return true
}

var errNotLive = errors.New("stream is not live on this node")

// subscription is one player of a live stream.
type subscription struct {
	p     *Players
	ls    *liveStream
	pl    *player
	start []taggedFrame // metadata, sequence headers and the GOP cache
	// hasVideo: the stream had video when the player joined.
	hasVideo bool
	proto    string
	splice   splicer // the player's own timeline across runs
	count    sentCount
}

// subscribe checks the play auth and adds a player to a live stream. A
// stream live elsewhere is pulled first (pull.go), unless the request is
// itself a pull from node peer: that one is answered from a local
// publication only, so pulls never chain or loop.
func (p *Players) subscribe(ctx context.Context, st catalog.Stream, q url.Values, proto, peer string) (*subscription, error) {
	if err := p.authorize(st, q); err != nil {
		return nil, err
	}
	ls := p.lookup(st.String())
	switch {
	case peer != "":
		if ls == nil || ls.up != nil {
			return nil, fmt.Errorf("%s: %w (pull from node %s: only streams published here are served to pulls)", st, errNotLive, truncate(peer, 64))
		}
	case ls == nil && p.pulls != nil:
		if err := p.pulls.await(ctx, st, q); err != nil {
			return nil, err
		}
		ls = p.lookup(st.String())
	}
	if ls == nil {
		return nil, fmt.Errorf("%s: %w", st, errNotLive)
	}
	pl := &player{ch: make(chan taggedFrame, p.cfg.Queue), gone: make(chan struct{})}
	start, hasVideo, ok := ls.join(pl)
	if !ok {
		return nil, fmt.Errorf("%s: %w", st, errNotLive)
	}
	p.players.WithLabelValues(proto).Inc()
	return &subscription{p: p, ls: ls, pl: pl, start: start, hasVideo: hasVideo, proto: proto, count: sentCount{ls: ls}}, nil
}

var (
	errPlayerConnClosed = errors.New("connection closed")
	errPlayerStreamEnd  = errors.New("stream ended or player too slow")
)

// pump sends the player its start frames, then the live frames, each
// through the player's splicer, until quit is closed, a write fails, or
// the stream ends or drops the player (then what is queued goes out
// first). What is queued when the player's goroutine gets to run goes out
// in one write (up to maxBatch frames). The splicer holds back what
// precedes a start point, so a player that joins when the GOP cache is
// empty (a GOP too long to cache) starts at the next keyframe rather than
// on pictures it cannot decode.
func (s *subscription) pump(quit <-chan struct{}, out playOut) error {
	defer func() { s.count.flush(time.Now()) }()
	add := func(f media.Frame, enc *frameEnc) error {
		out.add(f, enc)
		return nil
	}
	// next adds tf, and writes if the batch is full.
	next := func(tf taggedFrame) error {
		s.splice.next(tf, add) // add does not fail
		if out.full() {
			return out.flush()
		}
		return nil
	}
	for _, tf := range s.start {
		if err := next(tf); err != nil {
			return err
		}
	}
	s.start = nil
	if err := out.flush(); err != nil {
		return err
	}
	for {
		select {
		case <-quit:
			return errPlayerConnClosed
		case <-s.pl.gone:
			for {
				select {
				case tf := <-s.pl.ch:
					if err := next(tf); err != nil {
						return err
					}
				default:
					if err := out.flush(); err != nil {
						return err
					}
					return errPlayerStreamEnd
				}
			}
		case tf := <-s.pl.ch:
			if err := next(tf); err != nil {
				return err
			}
		more:
			for {
				select {
				case tf := <-s.pl.ch:
					if err := next(tf); err != nil {
						return err
					}
				default:
					break more
				}
			}
			if err := out.flush(); err != nil {
				return err
			}
		}
	}
}

func (s *subscription) leave() {
	s.ls.leave(s.pl)
	s.p.players.WithLabelValues(s.proto).Dec()
}

// sent counts n bytes sent to a player of the stream.
func (ls *liveStream) sent(n int, now time.Time) {
	ls.p.bytesOut.Add(float64(n))
	ls.bytesOut.Add(uint64(n))
	ls.bitsOut.Add(now, 8*uint64(n))
}

// playerSendBuffer bounds what the kernel holds for one player, so that a
// player that stops reading fills its queue (and is dropped) within seconds
// instead of hiding behind megabytes of socket buffer.
const playerSendBuffer = 128 << 10

// flvConn is the raw connection of a player.
type flvConn interface {
	Write([]byte) (int, error)
	SetWriteDeadline(time.Time) error
	Close() error
}

// openFLV takes the connection over from net/http and answers the headers
// itself: the body is the FLV stream until the connection closes (no
// chunking, as FLV players expect). done is closed when the player hangs up.
func (p *Players) openFLV(w http.ResponseWriter, r *http.Request) (flvConn, <-chan struct{}, error) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetWriteBuffer(playerSendBuffer)
	}
	conn.SetDeadline(time.Time{})
	hdr := "HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nCache-Control: no-store\r\n" +
		"Access-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(conn, hdr); err != nil {
		conn.Close()
		return nil, nil, err
	}
	done := make(chan struct{})
	go func() {
		// Players send nothing after the request: a read returns when they
		// hang up (or when we close the connection).
		io.Copy(io.Discard, rw)
		close(done)
	}()
	return conn, done, nil
}

// appendTag appends one FLV tag and its PreviousTagSize.
func appendTag(b []byte, f media.Frame) []byte {
	n := len(f.Payload)
	b = append(b, byte(f.Type), byte(n>>16), byte(n>>8), byte(n),
		byte(f.Timestamp>>16), byte(f.Timestamp>>8), byte(f.Timestamp), byte(f.Timestamp>>24), 0, 0, 0)
	b = append(b, f.Payload...)
	return binary.BigEndian.AppendUint32(b, uint32(11+n))
}

func (p *Players) authorize(st catalog.Stream, q url.Values) error {
	if len(p.cfg.Secrets) == 0 {
		return nil
	}
	_, err := catalog.VerifyToken(p.cfg.Secrets, catalog.PurposePlay, st, q.Get("exp"), q.Get("sig"), time.Now())
	return err
}

func httpError(w http.ResponseWriter, status int, code, msg string) {
	httpjson.Error(w, status, code, msg)
}

// Outputs reports the players of a live stream and what they were sent
// (OutputReporter).
func (p *Players) Outputs(app, name string) (int, OutputStats, []RelayStatus) {
	p.mu.Lock()
	ls := p.streams[app+"/"+name]
	p.mu.Unlock()
	if ls == nil {
		return 0, OutputStats{}, nil
	}
	ls.mu.Lock()
	n := len(ls.players)
	ls.mu.Unlock()
	return n, OutputStats{BytesOut: ls.bytesOut.Load(), BitrateOut: ls.bitsOut.Rate(time.Now())}, nil
}
