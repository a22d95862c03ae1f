//go:build !cgo

package editor

import (
	"context"
	"errors"
	"log/slog"

	"github.com/rewind-vod/rewind/catalog"
)

// errNoLibav: the cuts are libav, which is C; a CGO_ENABLED=0 build (the
// Lambda build of vodapi) links the editor's configuration but runs no job.
var errNoLibav = errors.New("editor: built without cgo, so without libav: no clip can be cut")

func (w *Worker) run(context.Context, *catalog.ClipJob, *slog.Logger) (*catalog.ClipOutput, error) {
	return nil, errNoLibav
}
