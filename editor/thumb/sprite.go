package thumb

import (
	"context"
	"fmt"
	"time"
)

// Tile is one cell of a sprite sheet.
type Tile struct {
	Segment []byte        // the segment holding the frame
	At      time.Duration // offset in it, as for Frame
}

// SpriteOptions lay tiles out.
type SpriteOptions struct {
	TileWidth int // even, default 160; tile height from the first frame's aspect ratio (even)
	Columns   int // default 10
	Quality   int // as Options.Quality
}

// Sprite decodes each tile's frame (as Frame does), scales it to the tile size and
// places it left to right, top to bottom, in one JPEG sheet. Returns the JPEG and
// the tile height. Tiles with no decodable video are left black, not an error,
// unless no tile decodes (then ErrNoVideo).
//
// The sheet is always Columns tiles wide, even with fewer tiles, so a cell's
// position depends only on its index and the options.
func Sprite(ctx context.Context, tiles []Tile, opt SpriteOptions) (jpeg []byte, tileHeight int, err error) {
	tw, cols, q, err := spriteLayout(opt)
	if err != nil {
		return nil, 0, err
	}
	if len(tiles) == 0 {
		return nil, 0, fmt.Errorf("%w: no tiles", ErrNoVideo)
	}
	rows := (len(tiles) + cols - 1) / cols
	var (
		sh       *sheet
		th       int
		firstErr error
	)
	for i, t := range tiles {
		if err := ctxErr(ctx); err != nil {
			return nil, 0, err
		}
		pix, h, err := renderTile(ctx, t, tw, th)
		if err != nil {
			if cerr := ctxErr(ctx); cerr != nil {
				return nil, 0, cerr
			}
			if firstErr == nil {
				firstErr = fmt.Errorf("tile %d: %w", i, err)
			}
			continue // left black
		}
		if sh == nil {
			th = h
			if sh, err = newSheet(cols*tw, rows*th); err != nil {
				return nil, 0, err
			}
		}
		sh.place(i%cols*tw, i/cols*th, pix, tw, th)
	}
	if sh == nil {
		return nil, 0, fmt.Errorf("%w: no tile decodes (%v)", ErrNoVideo, firstErr)
	}
	f, err := sh.frame()
	if err != nil {
		return nil, 0, err
	}
	defer f.Free()
	jpeg, err = encodeJPEG(f, q)
	if err != nil {
		return nil, 0, err
	}
	return jpeg, th, nil
}

// spriteLayout applies the defaults and checks the sheet width up front,
// before any decoding.
func spriteLayout(opt SpriteOptions) (tileW, cols, q int, err error) {
	if q, err = quality(opt.Quality); err != nil {
		return 0, 0, 0, err
	}
	tileW, cols = opt.TileWidth, opt.Columns
	if tileW == 0 {
		tileW = 160
	}
	if cols == 0 {
		cols = 10
	}
	tileW = tileW &^ 1
	if tileW < 2 || cols < 1 || cols*tileW > maxSide {
		return 0, 0, 0, fmt.Errorf("thumb: sprite of %d columns of width %d out of range (sheet at most %d wide)", opt.Columns, opt.TileWidth, maxSide)
	}
	return tileW, cols, q, nil
}

// renderTile decodes t and scales it to tw×th (th 0: from its aspect ratio),
// returning packed yuvj420p planes and the height used.
func renderTile(ctx context.Context, t Tile, tw, th int) ([]byte, int, error) {
	src, err := decodeAt(ctx, t.Segment, t.At)
	if err != nil {
		return nil, 0, err
	}
	defer src.Free()
	if th == 0 {
		if _, th, err = outSize(src.Width(), src.Height(), tw); err != nil {
			return nil, 0, err
		}
	}
	dst, err := scale(src, tw, th)
	if err != nil {
		return nil, 0, err
	}
	defer dst.Free()
	// Align 1 packs the planes back to back with no row padding.
	pix, err := dst.Data().Bytes(1)
	if err != nil {
		return nil, 0, fmt.Errorf("thumb: copy tile: %w", err)
	}
	if len(pix) != yuv420Size(tw, th) {
		return nil, 0, fmt.Errorf("thumb: tile has %d bytes, want %d", len(pix), yuv420Size(tw, th))
	}
	return pix, th, nil
}
