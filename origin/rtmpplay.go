package origin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/media"
	"github.com/rewind-vod/rewind/origin/rtmpwire"
)

// playWriteTimeout is how long one message may wait to go out to a
// player before the player counts as gone.
const playWriteTimeout = 10 * time.Second

// OnServe raises the chunk size of what we send, before anything is sent:
// the announcement goes first, so no message is ever chunked by the old size.
func (h *connHandler) OnServe(conn *rtmp.Conn) {
	defer h.recover("OnServe", nil)
	h.conn = conn
	h.c.wire.SetAcker(func(seq uint32) error {
		return h.wire.withTurn(func() error {
			return h.send(rtmpwire.ChunkStreamControl, &rtmp.ChunkMessage{Message: &message.Ack{SequenceNumber: seq}})
		})
	})
	if err := conn.GetChunkStreamer().SelfState().SetChunkSize(rtmpwire.OutChunkSize); err != nil {
		h.log.Warn("rtmp set chunk size", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(h.s.ctx, playWriteTimeout)
	defer cancel()
	if err := conn.Write(ctx, rtmpwire.ChunkStreamControl, 0, &rtmp.ChunkMessage{Message: &message.SetChunkSize{ChunkSize: rtmpwire.OutChunkSize}}); err != nil {
		h.log.Debug("rtmp send chunk size", "err", err)
	}
}

// OnPlay starts sending a live stream to an RTMP player: the metadata,
// the sequence headers and the GOP cache first, so it starts on a keyframe.
func (h *connHandler) OnPlay(sc *rtmp.StreamContext, _ uint32, cmd *message.NetStreamPlay) (err error) {
	defer h.recover("OnPlay", &err)
	h.c.setReason("play_refused") // until the play starts
	if h.pub != nil || h.play != nil {
		h.log.Info("play refused: the connection already publishes or plays")
		return errors.New("connection is already publishing or playing")
	}
	players := h.s.cfg.Players
	if players == nil {
		h.log.Info("play refused: live play is off on this node")
		return errors.New("live play is not enabled on this node")
	}
	name, rawQuery, _ := strings.Cut(cmd.StreamName, "?")
	if rawQuery == "" {
		rawQuery = h.appQuery
	}
	st, err := catalog.NewStream(h.app, name)
	if err != nil {
		h.log.Info("play refused", "name", truncate(h.app+"/"+name, 140), "err", err)
		return err
	}
	q, _ := url.ParseQuery(rawQuery) // what does not parse fails the signature check
	sub, err := players.subscribe(h.s.ctx, st, q, protoRTMP, "")
	if err != nil {
		h.log.Info("play refused", "stream", st.String(), "err", err)
		return err
	}
	h.c.clearReason()
	// A player sends next to nothing: the idle timeout is for publishers.
	// It needs no more than the setup limits either.
	h.c.noReadTimeout()
	h.c.setupFinished(h.s.setupLimits())
	if tc, ok := h.c.Conn.(*net.TCPConn); ok {
		tc.SetWriteBuffer(playerSendBuffer) // as for HTTP-FLV (players.go)
	}
	p := &rtmpPlayer{sub: sub, conn: h.conn, wire: h.wire, streamID: sc.StreamID, quit: make(chan struct{})}
	// go-rtmp answers Play.Start after we return, which may be after the
	// first media; players drop media before Play.Start, so send it first.
	if err := p.start(); err != nil {
		sub.leave()
		return fmt.Errorf("start play: %w", err)
	}
	h.play = p
	h.log.Info("play started", "stream", st.String(), "protocol", protoRTMP)
	h.s.wg.Add(1)
	go func() {
		defer h.s.wg.Done()
		defer sub.leave()
		err := p.run()
		h.log.Info("play ended", "stream", st.String(), "why", err)
		h.c.kill("play_ended")
	}()
	return nil
}

// rtmpPlayer sends one live stream to one RTMP play connection. Its
// media bypass go-rtmp (whose writes cost a copy and several syscalls per
// message): the chunks are shared by the players (play_out.go) and go
// straight to the socket, on chunk streams go-rtmp never writes on, each
// message with a full header, so go-rtmp's chunk stream state is not
// involved.
type rtmpPlayer struct {
	sub      *subscription
	conn     *rtmp.Conn
	wire     *wireConn // run's writes take its turn; start runs on go-rtmp's goroutine, which has it
	streamID uint32
	quit     chan struct{} // closed when the connection closes

	// chunkSize is what go-rtmp announced to the player (OnServe); the
	// shared chunks are cut at rtmpwire.OutChunkSize.
	chunkSize int
	batch     playBatch
	deadline  time.Time // when the write deadline was last moved
}

func (p *rtmpPlayer) stop() {
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
}

func (p *rtmpPlayer) write(csid int, ts uint32, msg message.Message) error {
	if err := p.writerUp(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), playWriteTimeout)
	defer cancel()
	return p.conn.Write(ctx, csid, ts, &rtmp.ChunkMessage{StreamID: p.streamID, Message: msg})
}

func (p *rtmpPlayer) writerUp() error {
	select {
	case <-p.conn.GetChunkStreamer().Done():
		// go-rtmp's writer has stopped: the connection is going.
		return errors.New("connection writer stopped")
	default:
		return nil
	}
}

func (p *rtmpPlayer) start() error {
	p.chunkSize = int(p.conn.GetChunkStreamer().SelfState().ChunkSize())
	if err := p.write(rtmpwire.ChunkStreamControl, 0, &message.UserCtrl{Event: &message.UserCtrlEventStreamBegin{StreamID: p.streamID}}); err != nil {
		return err
	}
	var body bytes.Buffer
	if err := message.EncodeBodyAnyValues(message.NewAMFEncoder(&body, message.EncodingTypeAMF0), &message.NetStreamOnStatus{
		InfoObject: message.NetStreamOnStatusInfoObject{
			Level:       message.NetStreamOnStatusLevelStatus,
			Code:        message.NetStreamOnStatusCodePlayStart,
			Description: "Playing the live stream.",
		},
	}); err != nil {
		return err
	}
	// Play.Start goes the way the media go, so that it is on the wire
	// before them (go-rtmp writes later, from its own goroutine).
	var cmd bytes.Buffer
	if err := message.NewEncoder(&cmd).Encode(&message.CommandMessage{CommandName: "onStatus", Encoding: message.EncodingTypeAMF0, Body: &body}); err != nil {
		return fmt.Errorf("encode onStatus: %w", err)
	}
	m := rtmpwire.Message{ChunkStreamID: rtmpwire.ChunkStreamStatus, TypeID: rtmpwire.TypeCommandAMF0, StreamID: p.streamID, Payload: cmd.Bytes()}
	p.batch.private(func(b []byte) []byte { return rtmpwire.AppendMessage(b, m, p.chunkSize) })
	return p.flushNow()
}

// add queues one frame's chunks: the shared ones if they fit the player.
func (p *rtmpPlayer) add(f media.Frame, enc *frameEnc) {
	if p.chunkSize == rtmpwire.OutChunkSize {
		if b, ok := enc.rtmpChunks(f, p.streamID); ok {
			p.batch.shared(b)
			return
		}
	}
	p.batch.private(func(b []byte) []byte {
		m, ok := rtmpMessage(f, p.streamID)
		if !ok {
			return b
		}
		return rtmpwire.AppendMessage(b, m, p.chunkSize)
	})
}

func (p *rtmpPlayer) full() bool { return p.batch.n >= maxBatch }

// flush writes what is queued, from the player's goroutine.
func (p *rtmpPlayer) flush() error {
	if p.batch.empty() {
		p.batch.reset()
		return nil
	}
	return p.wire.withTurn(p.flushNow)
}

// flushNow writes what is queued, with the write turn.
func (p *rtmpPlayer) flushNow() error {
	if err := p.writerUp(); err != nil {
		return err
	}
	var n int64
	now := time.Now()
	err := p.wire.WriteLocked(func() error {
		var err error
		n, err = p.wire.tc.writeBuffers(p.batch.buffers(), now, &p.deadline)
		return err
	})
	p.batch.reset()
	p.sub.count.add(int(n), now)
	return err
}

// run sends the start frames, then the live frames, until the stream ends,
// the player is dropped for falling behind, or the connection closes.
func (p *rtmpPlayer) run() error {
	return p.sub.pump(p.quit, p)
}

// writeBuffers writes bufs to the socket in one writev, bypassing Write;
// call it under the wire layer's write lock (rtmpwire.Conn.WriteLocked),
// which Write runs under too. The deadline is playWriteTimeout, moved on
// once in a while (moved: when this player last did); Write moves its own
// on at its next call.
func (c *trackedConn) writeBuffers(bufs *net.Buffers, now time.Time, moved *time.Time) (int64, error) {
	if now.Sub(*moved) > deadlineEvery(playWriteTimeout) {
		*moved = now
		c.lastWrite = time.Time{}
		if err := c.Conn.SetWriteDeadline(now.Add(playWriteTimeout)); err != nil {
			return 0, err
		}
	}
	return bufs.WriteTo(c.Conn)
}
