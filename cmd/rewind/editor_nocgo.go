//go:build !cgo

package main

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/editor"
	snap "github.com/rewind-vod/rewind/editor/snapshot"
	"github.com/rewind-vod/rewind/infra/queue"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/vodapi"
)

// errNoEditor: this binary was built with CGO_ENABLED=0 (e.g. the Lambda
// build of vodapi), and the editor is libav, which is C.
var errNoEditor = errors.New("this rewind was built without cgo and has no editor; build with CGO_ENABLED=1 and the libav -dev packages")

func newClipWorker(editor.Config, store.Store, queue.Queue, *slog.Logger, prometheus.Registerer) (clipWorker, error) {
	return nil, errNoEditor
}

// newStills: no libav, so vodapi answers thumbnail requests with 501.
func newStills() vodapi.Thumbnailer { return nil }

// snapshotRender: no libav, so no live snapshots.
func snapshotRender() snap.Render { return nil }
