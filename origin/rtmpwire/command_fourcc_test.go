package rtmpwire

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/rewind-vod/rewind/media"
)

// strictArray is an AMF0 strict array of strings with a declared count.
func strictArray(count uint32, items ...string) []byte {
	b := binary.BigEndian.AppendUint32([]byte{media.AMF0StrictArray}, count)
	for _, s := range items {
		b = append(b, amfStr(s)...)
	}
	return b
}

// TestConnectFourCCList: an enhanced RTMP connect (its command object with
// fourCcList, enhanced-rtmp v1 "Extending NetConnection connect Command")
// is handed on unchanged and its list recorded; a connect whose strict
// array claims more entries than it holds is not handed to go-rtmp.
func TestConnectFourCCList(t *testing.T) {
	obj := append([]byte{media.AMF0Object, 0, 3, 'a', 'p', 'p'}, amfStr("live")...)
	obj = append(obj, 0, 10)
	obj = append(obj, "fourCcList"...)
	good := command(amfStr("connect"), amfNum(1), obj, strictArray(3, "av01", "vp09", "hvc1"), []byte{0, 0, media.AMF0ObjectEnd})
	var c commands
	m, ok := c.normalize(Message{TypeID: TypeCommandAMF0, Payload: good})
	if !ok || !bytes.Equal(m.Payload, good) {
		t.Fatalf("connect changed or dropped (kept %v)", ok)
	}
	if !slices.Equal(c.fourCCs, []string{"av01", "vp09", "hvc1"}) {
		t.Errorf("fourCcList %q", c.fourCCs)
	}
	var plain commands
	if _, ok := plain.normalize(Message{TypeID: TypeCommandAMF0, Payload: command(amfStr("connect"), amfNum(1), []byte{media.AMF0Object, 0, 0, media.AMF0ObjectEnd})}); !ok || plain.fourCCs != nil {
		t.Errorf("legacy connect: kept %v, list %q", ok, plain.fourCCs)
	}
	lying := command(amfStr("connect"), amfNum(1), obj, strictArray(1<<31-1, "hvc1"), []byte{0, 0, media.AMF0ObjectEnd})
	if _, ok := c.normalize(Message{TypeID: TypeCommandAMF0, Payload: lying}); ok {
		t.Error("a connect with a strict array of 2^31 entries handed on")
	}
}

// FuzzConnectFourCCList: any connect payload is either handed on with all
// its AMF0 values whole (so go-rtmp never sizes an array from a lying
// count) or dropped, and the recorded list stays bounded.
func FuzzConnectFourCCList(f *testing.F) {
	obj := append([]byte{media.AMF0Object, 0, 10}, "fourCcList"...)
	f.Add(command(amfStr("connect"), amfNum(1), obj, strictArray(3, "av01", "vp09", "hvc1"), []byte{0, 0, media.AMF0ObjectEnd}))
	f.Add(command(amfStr("connect"), amfNum(1), obj, strictArray(1<<31-1, "hvc1"), []byte{0, 0, media.AMF0ObjectEnd}))
	f.Add(command(amfStr("connect"), amfNum(1), obj, strictArray(2, "hvc1"), amfNum(3), []byte{0, 0, media.AMF0ObjectEnd}))
	f.Fuzz(func(t *testing.T, p []byte) {
		var c commands
		m, ok := c.normalize(Message{TypeID: TypeCommandAMF0, Payload: p})
		if len(c.fourCCs) > maxFourCCs {
			t.Fatalf("%d entries kept", len(c.fourCCs))
		}
		name, _, isStr := media.SplitAMF0String(p)
		if !ok || !isStr || name != "connect" {
			return
		}
		if !bytes.Equal(m.Payload, p) {
			t.Fatal("connect rewritten")
		}
		for off := 0; off < len(p); {
			n, err := media.AMF0Size(p[off:])
			if err != nil {
				t.Fatalf("a connect with a broken value at %d handed on", off)
			}
			off += n
		}
	})
}
