package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/media"
	"github.com/rewind-vod/rewind/origin/rtmpwire"
)

// Limits on what a node may make the proxy hold while re-chunking: the
// largest message RTMP can carry, and two of them unfinished at once.
const (
	nodeMaxMessage  = 0xFFFFFF
	nodeMaxBuffered = 2 * nodeMaxMessage
)

// upstreamError is a node that failed the session before it was handed
// over (it refused the connect, closed, or gave another stream id); the
// client gets Status as an RTMP error status.
type upstreamError struct {
	msg string
}

func (e *upstreamError) Error() string { return e.msg }

// downstream relays what a node sends to the client. The client's chunk
// decoder follows the proxy's encoding since the proxy answered its
// connect, so the node's bytes cannot be spliced in: each message is
// decoded (the node's SetChunkSize and Abort are applied by the reader)
// and written again by the proxy's encoder, with its type, timestamp,
// message stream id and payload unchanged.
//
// Until the node has answered every transaction the proxy answered in its
// place (connect, createStream), those answers and the node's window and
// bandwidth announcements are swallowed: the client already has the
// proxy's. Message stream ids are not rewritten: the client's bytes reach
// the node verbatim and name the stream id the proxy gave, so a node that
// gives another one cannot be bridged and the session fails with an error
// that says so. nginx-rtmp, go-rtmp (the origin), SRS and FMS all give 1
// to a connection's first createStream, as the proxy does.
type downstream struct {
	node         string
	rd           *rtmpwire.Reader
	br           *bufio.Reader
	cw           *chunkWriter
	client       net.Conn
	writeTimeout time.Duration
	counter      prometheus.Counter

	owed     []owed
	onSwitch func() // once, when the last owed answer is in

	deadlineAt time.Time // when the client write deadline was last moved
	counted    int64     // cw.written already added to counter
}

func newDownstream(node string, nodeConn net.Conn, cw *chunkWriter, client net.Conn, debts []owed, writeTimeout time.Duration, counter prometheus.Counter) *downstream {
	br := bufio.NewReaderSize(nodeConn, 64<<10)
	return &downstream{
		node:         node,
		rd:           rtmpwire.NewReader(br, rtmpwire.Limits{MaxMessageSize: nodeMaxMessage, MaxBuffered: nodeMaxBuffered}),
		br:           br,
		cw:           cw,
		client:       client,
		writeTimeout: writeTimeout,
		counter:      counter,
		owed:         append([]owed(nil), debts...),
	}
}

// switched reports whether the node has answered everything the proxy
// answered for it: from then on its messages all go to the client.
func (d *downstream) switched() bool { return len(d.owed) == 0 }

// run relays until the node or the client fails. An *upstreamError means
// the node failed before the switch.
func (d *downstream) run() error {
	defer d.count()
	if d.switched() && d.onSwitch != nil {
		d.onSwitch()
	}
	for {
		m, err := d.rd.ReadMessage()
		if err != nil {
			if !d.switched() {
				var ne net.Error
				switch {
				case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
					return &upstreamError{msg: fmt.Sprintf("origin node %s closed the connection during setup", d.node)}
				case errors.As(err, &ne) && ne.Timeout():
					return &upstreamError{msg: fmt.Sprintf("origin node %s did not answer the session setup in time", d.node)}
				}
				return &upstreamError{msg: fmt.Sprintf("origin node %s: %v", d.node, err)}
			}
			return fmt.Errorf("read from node %s: %w", d.node, err)
		}
		forward, err := d.filter(m)
		if err != nil {
			return err
		}
		if !forward {
			continue
		}
		d.moveDeadline()
		if err := d.cw.writeMessage(m.TypeID, m.Timestamp, m.StreamID, m.Payload); err != nil {
			return err
		}
		if d.br.Buffered() == 0 {
			// Nothing more to read at once: send what we have before
			// waiting for the node.
			if err := d.cw.Flush(); err != nil {
				return err
			}
			d.count()
		}
	}
}

// filter decides whether a node message goes to the client, and checks
// the node's answers to the transactions the proxy answered.
func (d *downstream) filter(m rtmpwire.Message) (bool, error) {
	if d.switched() {
		return true, nil
	}
	switch {
	case m.TypeID == typeWindowAckSize, m.TypeID == typeSetPeerBandwidth, m.TypeID == typeAck:
		return false, nil
	case !isCommand(m.TypeID):
		return true, nil
	}
	body, err := commandBody(m.TypeID, m.Payload)
	if err != nil {
		return true, nil // not an answer of ours: the client may make sense of it
	}
	vals := amfValues(body, 4)
	if len(vals) < 2 {
		return true, nil
	}
	name, _ := vals[0].(string)
	tx, _ := vals[1].(float64)
	if name != "_result" && name != "_error" {
		return true, nil
	}
	i := d.owedIndex(tx)
	if i < 0 {
		return true, nil // an answer to a command the node answers alone (releaseStream, ...)
	}
	o := d.owed[i]
	d.owed = append(d.owed[:i], d.owed[i+1:]...)
	if name == "_error" {
		return false, &upstreamError{msg: fmt.Sprintf("origin node %s refused %s: %s", d.node, o.Cmd, statusText(vals))}
	}
	if o.Cmd == "createStream" {
		id, ok := valueAt(vals, 3).(float64)
		if !ok || id != float64(o.StreamID) {
			return false, &upstreamError{msg: fmt.Sprintf("origin node %s gave createStream stream id %v where the proxy had given %d; "+
				"the client's verbatim messages name %d, so the session cannot be bridged", d.node, valueAt(vals, 3), o.StreamID, o.StreamID)}
		}
	}
	if d.switched() && d.onSwitch != nil {
		d.onSwitch()
	}
	return false, nil
}

func (d *downstream) owedIndex(tx float64) int {
	for i, o := range d.owed {
		if o.Tx == tx {
			return i
		}
	}
	return -1
}

// moveDeadline pushes the client write deadline on, coarsely: a client
// that takes nothing for writeTimeout is gone.
func (d *downstream) moveDeadline() {
	now := time.Now()
	if now.Sub(d.deadlineAt) > d.writeTimeout/16 {
		d.deadlineAt = now
		_ = d.client.SetWriteDeadline(now.Add(d.writeTimeout))
	}
}

func (d *downstream) count() {
	if n := d.cw.written - d.counted; n > 0 {
		d.counter.Add(float64(n))
		d.counted = d.cw.written
	}
}

// amfValues decodes up to max leading values of b (fewer if one does not
// decode).
func amfValues(b []byte, max int) []any {
	var out []any
	for len(b) > 0 && len(out) < max {
		v, rest, err := media.ReadAMF0(b)
		if err != nil {
			break
		}
		out = append(out, v)
		b = rest
	}
	return out
}

func valueAt(vals []any, i int) any {
	if i < len(vals) {
		return vals[i]
	}
	return nil
}

// statusText is the code and description of an _error's information
// object, for the error the client gets.
func statusText(vals []any) string {
	info, _ := valueAt(vals, 3).(map[string]any)
	code, desc := amfString(info, "code"), amfString(info, "description")
	switch {
	case code == "" && desc == "":
		return "no reason given"
	case desc == "":
		return code
	case code == "":
		return desc
	}
	return code + ": " + desc
}
