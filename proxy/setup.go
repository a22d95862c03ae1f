package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/rewind-vod/rewind/media"
	"github.com/rewind-vod/rewind/origin/rtmpwire"
)

// maxCreateStreams bounds the createStream calls answered before routing;
// encoders make one.
const maxCreateStreams = 4

// setupLimits bound what a client may make the proxy hold before its
// session is routed.
type setupLimits struct {
	MaxMessage  int // one message
	MaxBuffered int // unfinished messages together
	MaxRecorded int // every byte read after the handshake, kept for the replay
}

// setup is what the client said before routing.
type setup struct {
	Kind     string // "publish" or "play"
	App      string // connect's app, as sent
	Name     string // the publish or play name, as sent (query included)
	StreamID uint32 // the message stream of the publish or play
	// Owed are the transactions the proxy answered for the node: the node
	// answers them too, and those answers must not reach the client.
	Owed []owed
	// Recorded is every byte the client sent after the handshake, in
	// order, up to and including the publish or play (and whatever the
	// read-ahead took after it); the node gets exactly these first.
	Recorded []byte
}

// owed is a transaction the proxy answered itself.
type owed struct {
	Cmd      string // "connect" or "createStream"
	Tx       float64
	StreamID uint32 // the stream id the proxy gave (createStream)
}

// protocolError is a client that broke the command sequence the proxy
// relies on (publish before connect, a connect that does not decode, ...).
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return "rtmp: " + e.msg }

func protocolErrorf(format string, args ...any) error {
	return &protocolError{msg: fmt.Sprintf(format, args...)}
}

// errRecordLimit: the client sent more before publishing or playing than
// the proxy keeps for the replay.
var errRecordLimit = errors.New("rtmp: too many bytes before publish or play")

// recorder keeps every byte read through it, up to max.
type recorder struct {
	r   io.Reader
	buf []byte
	max int
}

func (rc *recorder) Read(p []byte) (int, error) {
	room := rc.max - len(rc.buf)
	if room <= 0 {
		return 0, fmt.Errorf("%w (%d)", errRecordLimit, rc.max)
	}
	if len(p) > room {
		p = p[:room]
	}
	n, err := rc.r.Read(p)
	rc.buf = append(rc.buf, p[:n]...)
	return n, err
}

// negotiate reads the client's messages (r is the connection past the
// handshake) until its publish or play, answering connect and createStream
// on cw as a server does. It does not validate the stream name: the caller
// answers a bad one with a status the client understands.
func negotiate(r io.Reader, cw *chunkWriter, lim setupLimits) (*setup, error) {
	rec := &recorder{r: r, max: lim.MaxRecorded}
	rd := rtmpwire.NewReader(bufio.NewReaderSize(rec, 4096), rtmpwire.Limits{
		MaxMessageSize: lim.MaxMessage, MaxBuffered: lim.MaxBuffered,
	})
	s := &setup{}
	connected := false
	var created uint32
	for {
		m, err := rd.ReadMessage()
		if err != nil {
			return nil, err
		}
		if !isCommand(m.TypeID) {
			continue // control, media or data before publish: the node gets it in the replay
		}
		cmd, err := parseCommand(m.TypeID, m.Payload)
		if err != nil {
			if cmd.Name == "" || cmd.Name == "connect" || cmd.Name == "publish" || cmd.Name == "play" {
				return nil, protocolErrorf("%v", err)
			}
			continue // not ours to judge: the node will say
		}
		switch cmd.Name {
		case "connect":
			if connected {
				return nil, protocolErrorf("a second connect on one connection")
			}
			connected = true
			s.App = cmd.App
			s.Owed = append(s.Owed, owed{Cmd: "connect", Tx: cmd.Tx})
			if err := answerConnect(cw, cmd); err != nil {
				return nil, err
			}
		case "createStream":
			if !connected {
				return nil, protocolErrorf("createStream before connect")
			}
			if created >= maxCreateStreams {
				return nil, protocolErrorf("more than %d createStream calls before publish or play", maxCreateStreams)
			}
			created++
			s.Owed = append(s.Owed, owed{Cmd: "createStream", Tx: cmd.Tx, StreamID: created})
			if err := cw.command(0, "_result", cmd.Tx, nil, float64(created)); err != nil {
				return nil, err
			}
			if err := cw.Flush(); err != nil {
				return nil, err
			}
		case "publish", "play":
			if !connected {
				return nil, protocolErrorf("%s before connect", cmd.Name)
			}
			s.Kind, s.Name, s.StreamID = cmd.Name, cmd.StreamName, m.StreamID
			s.Recorded = rec.buf
			return s, nil
		}
	}
}

// answerConnect sends what a server sends on connect: the window
// acknowledgement size, the peer bandwidth, the proxy's chunk size and the
// success result.
func answerConnect(cw *chunkWriter, cmd command) error {
	var b [5]byte
	putUint32(b[:], windowAckSize)
	if err := cw.writeMessage(typeWindowAckSize, 0, 0, b[:4]); err != nil {
		return err
	}
	b[4] = 2 // dynamic
	if err := cw.writeMessage(typeSetPeerBandwidth, 0, 0, b[:5]); err != nil {
		return err
	}
	if err := cw.setChunkSize(outChunkSize); err != nil {
		return err
	}
	err := cw.command(0, "_result", cmd.Tx,
		[]media.AMF0Prop{{Key: "fmsVer", Val: "FMS/3,0,1,123"}, {Key: "capabilities", Val: float64(31)}},
		[]media.AMF0Prop{
			{Key: "level", Val: "status"},
			{Key: "code", Val: "NetConnection.Connect.Success"},
			{Key: "description", Val: "Connection succeeded."},
			{Key: "objectEncoding", Val: cmd.ObjectEncoding},
		})
	if err != nil {
		return err
	}
	return cw.Flush()
}

func putUint32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

// rejectReason is the metric reason for a connection that failed before
// routing.
func rejectReason(err error) string {
	var we *rtmpwire.Error
	var pe *protocolError
	var ne net.Error
	switch {
	case errors.As(err, &we) && we.Kind == rtmpwire.TooLarge, errors.Is(err, errRecordLimit):
		return rejectTooLarge
	case errors.As(err, &we):
		return rejectMalformed
	case errors.As(err, &pe):
		return rejectProtocol
	case errors.As(err, &ne) && ne.Timeout():
		return rejectTimeout
	}
	return rejectClosed
}
