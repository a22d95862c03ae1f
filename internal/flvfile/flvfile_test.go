package flvfile

import (
	"bytes"
	"testing"
)

func sample() []byte {
	b := []byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0}
	// one video tag: type 9, size 3, ts 0x01000002 (extended byte 0x01)
	b = append(b, 9, 0, 0, 3, 0, 0, 2, 1, 0, 0, 0, 0x17, 0, 0, 0, 0, 0, 14)
	return b
}

func TestReadAll(t *testing.T) {
	tags, err := ReadAll(bytes.NewReader(sample()))
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 1 || tags[0].Type != 9 || tags[0].Timestamp != 0x01000002 || !bytes.Equal(tags[0].Body, []byte{0x17, 0, 0}) {
		t.Fatalf("%+v", tags)
	}
	if _, err := ReadAll(bytes.NewReader(sample()[:20])); err == nil {
		t.Error("truncated tag accepted")
	}
	if _, err := ReadAll(bytes.NewReader([]byte("GIF89a..."))); err == nil {
		t.Error("non-FLV accepted")
	}
}

func FuzzReadAll(f *testing.F) {
	f.Add(sample())
	f.Add([]byte("FLV"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tags, err := ReadAll(bytes.NewReader(b))
		if err == nil {
			for _, tag := range tags {
				if len(tag.Body) >= 1<<24 {
					t.Fatal("oversized tag")
				}
			}
		}
	})
}
