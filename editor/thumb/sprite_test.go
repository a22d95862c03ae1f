package thumb

import (
	"context"
	"errors"
	"image"
	"testing"
	"time"
)

func TestSprite(t *testing.T) {
	seg, audio := segments(t)
	tiles := make([]Tile, 7)
	for i := range tiles {
		tiles[i] = Tile{Segment: seg, At: time.Duration(i) * 600 * time.Millisecond}
	}
	tiles[4].Segment = audio // no video: a black cell, not an error
	jpg, th, err := Sprite(context.Background(), tiles, SpriteOptions{Columns: 3})
	if err != nil {
		t.Fatal(err)
	}
	if th != 120 {
		t.Errorf("tile height %d, want 120", th)
	}
	if !isJPEG(jpg) {
		t.Fatal("sprite is not a JPEG")
	}
	if codec, w, h := probeJPEG(t, jpg); codec != "mjpeg" || w != 480 || h != 360 {
		t.Errorf("ffprobe says %s %dx%d, want mjpeg 480x360", codec, w, h)
	}
	img := decodeImage(t, jpg)
	if b := img.Bounds(); b.Dx() != 3*160 || b.Dy() != 3*120 {
		t.Fatalf("sheet is %v, want 480x360", b)
	}
	cell := func(i int) image.Rectangle {
		return image.Rect(i%3*160, i/3*120, i%3*160+160, i/3*120+120)
	}
	for i, tile := range tiles {
		if i == 4 {
			continue
		}
		still, err := Frame(context.Background(), tile.Segment, tile.At, Options{Width: 160})
		if err != nil {
			t.Fatal(err)
		}
		s := decodeImage(t, still)
		if d := meanAbsDiff(gray(img, cell(i)), gray(s, s.Bounds())); d > 3 {
			t.Errorf("cell %d differs from Frame of tile %d by %.2f", i, i, d)
		}
	}
	// Tile 0 (keyframe at 0 s) and tile 5 (keyframe at 3 s) must differ.
	if d := meanAbsDiff(gray(img, cell(0)), gray(img, cell(5))); d < 4 {
		t.Errorf("cells 0 and 5 are alike (%.2f)", d)
	}
	for _, i := range []int{4, 7, 8} {
		if m := maxLuma(img, cell(i).Inset(2)); m > 8 {
			t.Errorf("cell %d is not black: max luma %.0f", i, m)
		}
	}
}

// maxLuma is the brightest gray pixel in r.
func maxLuma(img image.Image, r image.Rectangle) float64 {
	var m float64
	for _, v := range grayPixels(img, r) {
		m = max(m, v)
	}
	return m
}

func TestSpriteFirstTileBad(t *testing.T) {
	seg, _ := segments(t)
	tiles := []Tile{{Segment: []byte("not a segment")}, {Segment: seg, At: time.Second}}
	jpg, th, err := Sprite(context.Background(), tiles, SpriteOptions{TileWidth: 64, Columns: 2})
	if err != nil {
		t.Fatal(err)
	}
	if th != 48 {
		t.Errorf("tile height %d, want 48 (from the first frame that decodes)", th)
	}
	img := decodeImage(t, jpg)
	if b := img.Bounds(); b.Dx() != 128 || b.Dy() != 48 {
		t.Errorf("sheet is %v, want 128x48", b)
	}
	if m := maxLuma(img, image.Rect(0, 0, 64, 48).Inset(2)); m > 8 {
		t.Errorf("bad first tile is not black: max luma %.0f", m)
	}
}

func TestSpriteNoVideo(t *testing.T) {
	_, audio := segments(t)
	for name, tiles := range map[string][]Tile{
		"none":  nil,
		"audio": {{Segment: audio}, {Segment: []byte{0x47}}},
	} {
		if _, _, err := Sprite(context.Background(), tiles, SpriteOptions{}); !errors.Is(err, ErrNoVideo) {
			t.Errorf("%s: got %v, want ErrNoVideo", name, err)
		}
	}
}

func TestSpriteOptions(t *testing.T) {
	seg, _ := segments(t)
	tiles := []Tile{{Segment: seg}}
	for _, opt := range []SpriteOptions{{TileWidth: -160}, {Columns: -1}, {Quality: 40}, {TileWidth: 4000, Columns: 10}} {
		if _, _, err := Sprite(context.Background(), tiles, opt); err == nil {
			t.Errorf("%+v: no error", opt)
		}
	}
	// Defaults: 160 wide tiles, 10 columns, whatever the tile count.
	jpg, th, err := Sprite(context.Background(), tiles, SpriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b := decodeImage(t, jpg).Bounds(); b.Dx() != 1600 || b.Dy() != th || th != 120 {
		t.Errorf("default sheet %v, tile height %d; want 1600x120", b, th)
	}
}

func TestSpriteCancelled(t *testing.T) {
	seg, _ := segments(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Sprite(ctx, []Tile{{Segment: seg}}, SpriteOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}
