//go:build cgo

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/editor"
	snap "github.com/rewind-vod/rewind/editor/snapshot"
	"github.com/rewind-vod/rewind/editor/thumb"
	"github.com/rewind-vod/rewind/infra/queue"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/vodapi"
)

func newClipWorker(cfg editor.Config, st store.Store, q queue.Queue, log *slog.Logger, reg prometheus.Registerer) (clipWorker, error) {
	return editor.New(cfg, st, q, log, reg), nil
}

// stills renders vodapi's thumbnails and sprites with the editor's libav code.
type stills struct{}

func newStills() vodapi.Thumbnailer {
	// swscale warns on every JPEG-range scaler; keep libav to errors.
	astiav.SetLogLevel(astiav.LogLevelError)
	return stills{}
}

func (stills) Frame(ctx context.Context, segment []byte, at time.Duration, width int) ([]byte, error) {
	return thumb.Frame(ctx, segment, at, thumb.Options{Width: width})
}

func (stills) Sprite(ctx context.Context, tiles []vodapi.Tile, tileWidth, columns int) ([]byte, error) {
	tt := make([]thumb.Tile, len(tiles))
	for i, t := range tiles {
		tt[i] = thumb.Tile{Segment: t.Segment, At: t.At}
	}
	b, _, err := thumb.Sprite(ctx, tt, thumb.SpriteOptions{TileWidth: tileWidth, Columns: columns})
	return b, err
}

// snapshotRender decodes live snapshots with the editor's libav code.
func snapshotRender() snap.Render {
	return func(ctx context.Context, segment []byte, width, quality int) ([]byte, error) {
		b, err := thumb.Frame(ctx, segment, 0, thumb.Options{Width: width, Quality: quality})
		if errors.Is(err, thumb.ErrNoVideo) {
			return nil, fmt.Errorf("%w: %v", snap.ErrNoVideo, err)
		}
		return b, err
	}
}
