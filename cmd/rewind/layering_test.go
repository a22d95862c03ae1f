package main

import (
	"os/exec"
	"strings"
	"testing"
)

// DESIGN.md: origin knows nothing of how recordings are stored, and no
// storage backend is linked into the components that only need the store
// interface; cmd picks the backend. go list -deps proves it.
func TestNoStorageBackendInComponents(t *testing.T) {
	for _, pkg := range []string{"origin", "recorder", "catalog", "vodapi/playlist", "media"} {
		out, err := exec.Command("go", "list", "-deps", "github.com/rewind-vod/rewind/"+pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "github.com/aws/") || strings.HasPrefix(dep, "github.com/rewind-vod/rewind/infra/store/") {
				t.Errorf("%s links %s", pkg, dep)
			}
		}
	}
}
