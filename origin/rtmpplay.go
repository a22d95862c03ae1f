package origin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// rtmpPlayer sends one live stream to one RTMP play connection.
type rtmpPlayer struct {
	sub      *subscription
	conn     *rtmp.Conn
	wire     *wireConn // run's writes take its turn; start runs on go-rtmp's goroutine, which has it
	streamID uint32
	quit     chan struct{} // closed when the connection closes
}

func (p *rtmpPlayer) stop() {
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
}

func (p *rtmpPlayer) write(csid int, ts uint32, msg message.Message) error {
	select {
	case <-p.conn.GetChunkStreamer().Done():
		// go-rtmp's writer has stopped: nothing more would go out.
		return errors.New("connection writer stopped")
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), playWriteTimeout)
	defer cancel()
	return p.conn.Write(ctx, csid, ts, &rtmp.ChunkMessage{StreamID: p.streamID, Message: msg})
}

func (p *rtmpPlayer) start() error {
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
	return p.write(rtmpwire.ChunkStreamStatus, 0, &message.CommandMessage{CommandName: "onStatus", Encoding: message.EncodingTypeAMF0, Body: &body})
}

// send writes one frame as an RTMP message, from the player's goroutine.
func (p *rtmpPlayer) send(f media.Frame) error {
	return p.wire.withTurn(func() error { return p.sendNow(f) })
}

func (p *rtmpPlayer) sendNow(f media.Frame) error {
	var err error
	switch f.Type {
	case media.FrameAudio:
		err = p.write(rtmpwire.ChunkStreamAudio, f.Timestamp, rtmpwire.AudioMessage(f.Payload))
	case media.FrameVideo:
		err = p.write(rtmpwire.ChunkStreamVideo, f.Timestamp, rtmpwire.VideoMessage(f.Payload))
	case media.FrameData:
		// The payload is what @setDataFrame carried: the "onMetaData" name
		// and its object. A player gets it as an onMetaData data message.
		name, body, ok := media.SplitAMF0String(f.Payload)
		if !ok {
			return nil
		}
		err = p.write(rtmpwire.ChunkStreamData, f.Timestamp, &message.DataMessage{Name: name, Encoding: message.EncodingTypeAMF0, Body: bytes.NewReader(body)})
	}
	if err == nil {
		p.sub.ls.sent(len(f.Payload))
	}
	return err
}

// run sends the start frames, then the live frames, until the stream ends,
// the player is dropped for falling behind, or the connection closes.
func (p *rtmpPlayer) run() error {
	return p.sub.pump(p.quit, p.send)
}
