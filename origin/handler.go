package origin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/media"
	"github.com/rewind-vod/rewind/origin/rtmpwire"
)

// refusal is a publish refused by policy; reason is the metric label.
type refusal struct {
	reason string
	err    error
}

func (r *refusal) Error() string { return r.reason + ": " + r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// maxScratchKeep is the largest read buffer kept for the next message; a
// rare huge keyframe should not pin memory.
const maxScratchKeep = 1 << 20

// scratchPool holds the buffers messages are read into before their
// payload is copied out at its exact size. A message is read in one call
// on its connection's goroutine, so the node needs about one buffer per
// core, not one per connection.
var scratchPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// connHandler handles one RTMP connection. go-rtmp calls all its methods
// from the connection's single goroutine.
type connHandler struct {
	rtmp.DefaultHandler
	s   *Server
	c   *trackedConn
	log *slog.Logger

	app      string
	appQuery string

	conn        *rtmp.Conn // from OnServe
	wire        *wireConn  // what conn reads and writes through
	pub         *publication
	pubStreamID uint32
	play        *rtmpPlayer
}

var _ rtmp.Handler = (*connHandler)(nil)

func (h *connHandler) OnConnect(_ uint32, cmd *message.NetConnectionConnect) (err error) {
	defer h.recover("OnConnect", &err)
	// Some clients put the query on the app (rtmp://host/app?k=v/name);
	// keep it as a fallback for the publish query.
	app, q, _ := strings.Cut(cmd.Command.App, "?")
	h.app = strings.TrimRight(app, "/")
	h.appQuery = q
	h.log.Debug("rtmp connect", "app", truncate(h.app, 140), "flash_ver", truncate(cmd.Command.FlashVer, 64),
		"handshake", h.c.wire.Handshake().String(), "four_cc_list", h.c.wire.FourCCList())
	return nil
}

func (h *connHandler) OnPublish(sc *rtmp.StreamContext, _ uint32, cmd *message.NetStreamPublish) (err error) {
	defer h.recover("OnPublish", &err)
	if h.pub != nil {
		return h.refuse(&refusal{reason: reasonBadMessage, err: errors.New("connection is already publishing")})
	}
	// ffmpeg and OBS send the query after the stream name: name?exp=..&sig=..
	name, rawQuery, _ := strings.Cut(cmd.PublishingName, "?")
	if rawQuery == "" {
		rawQuery = h.appQuery
	}
	st, err := catalog.NewStream(h.app, name)
	if err != nil {
		return h.refuse(&refusal{reason: reasonBadName, err: err}, "name", truncate(h.app+"/"+name, 140))
	}
	if err := h.s.authorize(st, rawQuery, h.c.remote); err != nil {
		return h.refuse(err, "stream", st.String())
	}
	p, err := h.s.startPublish(st, h.c, h.log)
	if err != nil {
		return h.refuse(err, "stream", st.String())
	}
	h.pub = p
	h.pubStreamID = sc.StreamID
	h.c.setupFinished(h.s.publishLimits())
	h.c.startBatching(h.s.cfg.PublishReadPause)
	h.c.wire.SetMediaHook(h.takeMedia)
	return nil
}

// refuse counts and logs a refused publish and returns the error for
// go-rtmp, which answers NetStream.Publish.Failed and drops the connection.
func (h *connHandler) refuse(err error, attrs ...any) error {
	var r *refusal
	if !errors.As(err, &r) {
		// Replaced while waiting, or shutting down: not a policy refusal.
		h.log.Info("publish abandoned", append(attrs, "err", err)...)
		return err
	}
	h.s.countRefusal(r.reason)
	h.c.setReason("publish_refused")
	h.log.Warn("publish refused", append(attrs, "reason", r.reason, "err", r.err)...)
	return err
}

func (h *connHandler) OnAudio(ts uint32, payload io.Reader) (err error) {
	defer h.recover("OnAudio", &err)
	return h.media(media.FrameAudio, ts, payload)
}

func (h *connHandler) OnVideo(ts uint32, payload io.Reader) (err error) {
	defer h.recover("OnVideo", &err)
	return h.media(media.FrameVideo, ts, payload)
}

// OnSetDataFrame passes the "@setDataFrame" payload through: the AMF0
// "onMetaData" name and object, which is what an FLV script tag holds.
func (h *connHandler) OnSetDataFrame(ts uint32, data *message.NetStreamSetDataFrame) (err error) {
	defer h.recover("OnSetDataFrame", &err)
	if len(data.Payload) > h.s.cfg.MaxMessageSize {
		return h.oversize(media.FrameData, len(data.Payload))
	}
	if h.pub != nil {
		h.pub.push(media.Frame{Type: media.FrameData, Timestamp: ts, Payload: bytes.Clone(data.Payload)})
	}
	return nil
}

// media reads one audio or video message that go-rtmp handed on into a
// fresh slice (go-rtmp reuses its buffer) for frame. Only what comes before
// a publish is accepted, or on another stream, takes this way; the
// publisher's own frames come through takeMedia.
func (h *connHandler) media(t media.FrameType, ts uint32, r io.Reader) error {
	limit := int64(h.s.cfg.MaxMessageSize)
	scratch := scratchPool.Get().(*bytes.Buffer)
	defer func() {
		if scratch.Cap() <= maxScratchKeep {
			scratchPool.Put(scratch)
		}
	}()
	scratch.Reset()
	n, err := scratch.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return fmt.Errorf("read %s message: %w", t, err)
	}
	if n > limit {
		return h.oversize(t, int(n))
	}
	return h.frame(t, ts, scratch.Bytes(), false)
}

// takeMedia is the wire layer's media hook while a publish is on: the
// publisher's audio and video go from the chunk reader straight to the
// sinks, without go-rtmp's reparse, its copy and ours. Anything else
// (another message stream, after the publish ended) goes on to go-rtmp as
// before. It runs inside the wire layer's Read, on go-rtmp's connection
// goroutine but without the write turn.
func (h *connHandler) takeMedia(m rtmpwire.Message) (bool, error) {
	if h.pub == nil || m.StreamID != h.pubStreamID {
		return false, nil
	}
	t := media.FrameAudio
	if m.TypeID == rtmpwire.TypeVideo {
		t = media.FrameVideo
	}
	// With the turn, as a go-rtmp handler method has it: badVideo answers.
	// No size check: the publish limits the reader has had since OnPublish
	// refuse a longer message before its payload is read.
	return true, h.wire.withTurn(func() (err error) {
		defer h.recover("takeMedia", &err)
		return h.frame(t, m.Timestamp, m.Payload, true)
	})
}

// frame checks a video tag and hands the frame to the sinks. The payload
// becomes the frame's only copy (cloned first unless owned): every sink,
// the GOP cache and every player share it, so no one may write to a
// Payload.
func (h *connHandler) frame(t media.FrameType, ts uint32, p []byte, owned bool) error {
	if t == media.FrameVideo {
		if err := media.CheckVideoTag(p); err != nil {
			return h.badVideo(err)
		}
	}
	if h.pub == nil {
		return nil
	}
	if !owned {
		p = bytes.Clone(p)
	}
	h.pub.push(media.Frame{Type: t, Timestamp: ts, Payload: p})
	return nil
}

func (h *connHandler) oversize(t media.FrameType, size int) error {
	h.c.setReason(reasonOversize)
	h.s.m.rejected.WithLabelValues(reasonOversize).Inc()
	h.log.Warn("message too large, dropping connection", "type", t.String(), "size_at_least", size, "max", h.s.cfg.MaxMessageSize)
	return fmt.Errorf("%s message of at least %d bytes exceeds the limit of %d", t, size, h.s.cfg.MaxMessageSize)
}

// badVideo drops a publisher whose video rewind cannot record (another
// codec id or FourCC, enhanced RTMP signalling it does not know, a header
// cut short): better than a run recorded without its video. The publisher
// is told why with an onStatus error before the connection goes.
func (h *connHandler) badVideo(err error) error {
	h.c.setReason(reasonBadMessage)
	h.s.m.rejected.WithLabelValues(reasonBadMessage).Inc()
	h.log.Warn("unsupported video, dropping connection", "err", err)
	var body bytes.Buffer
	if e := message.EncodeBodyAnyValues(message.NewAMFEncoder(&body, message.EncodingTypeAMF0), &message.NetStreamOnStatus{
		InfoObject: message.NetStreamOnStatusInfoObject{Level: message.NetStreamOnStatusLevelError, Code: "NetStream.Failed", Description: err.Error()},
	}); e == nil {
		_ = h.send(rtmpwire.ChunkStreamStatus, &rtmp.ChunkMessage{StreamID: h.pubStreamID,
			Message: &message.CommandMessage{CommandName: "onStatus", Encoding: message.EncodingTypeAMF0, Body: &body}})
	}
	return fmt.Errorf("unsupported video: %w", err)
}

// send writes one message through go-rtmp; the caller has the write turn.
func (h *connHandler) send(csid int, m *rtmp.ChunkMessage) error {
	if h.conn == nil {
		return errors.New("connection not served yet")
	}
	ctx, cancel := context.WithTimeout(h.s.ctx, playWriteTimeout)
	defer cancel()
	return h.conn.Write(ctx, csid, 0, m)
}

func (h *connHandler) OnDeleteStream(_ uint32, cmd *message.NetStreamDeleteStream) (err error) {
	defer h.recover("OnDeleteStream", &err)
	if h.pub != nil && cmd.StreamID == h.pubStreamID {
		h.endPublish("deleteStream")
	}
	return nil
}

func (h *connHandler) OnFCUnpublish(_ uint32, _ *message.NetStreamFCUnpublish) (err error) {
	defer h.recover("OnFCUnpublish", &err)
	h.endPublish("FCUnpublish")
	return nil
}

// OnUnknownCommandMessage gets what go-rtmp has no handler method for.
// closeStream ends a publish (GStreamer's rtmp2sink may send it), and so
// do deleteStream and FCUnpublish when sent on the publishing stream
// itself rather than on the control stream.
func (h *connHandler) OnUnknownCommandMessage(_ uint32, cmd *message.CommandMessage) (err error) {
	defer h.recover("OnUnknownCommandMessage", &err)
	switch cmd.CommandName {
	case "closeStream", "deleteStream", "FCUnpublish":
		h.endPublish(cmd.CommandName)
	}
	return nil
}

func (h *connHandler) OnClose() {
	defer h.recover("OnClose", nil)
	why := "connection closed"
	if r := h.c.ourReason(); r != "" {
		why += " (" + r + ")"
	}
	if h.play != nil {
		h.play.stop()
	}
	h.endPublish(why)
}

func (h *connHandler) endPublish(why string) {
	if h.pub == nil {
		return
	}
	h.pub.end(why)
	h.pub = nil
}

// recover keeps a bug in our handler (or a sink's Open) from taking the
// process down: the connection is dropped and the panic logged.
func (h *connHandler) recover(where string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	h.log.Error("panic in rtmp handler", "in", where, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	h.c.setReason("panic")
	if err != nil {
		*err = fmt.Errorf("panic in %s: %v", where, r)
	}
}
