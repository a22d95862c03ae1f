package main

import (
	"os/exec"
	"strings"
	"testing"
)

// DESIGN.md: components meet the store and the job queue through the
// interfaces in infra; cmd picks the backends, so no component links one
// (nor the AWS SDK). go list -deps proves it.
func TestNoBackendInComponents(t *testing.T) {
	for _, pkg := range []string{"origin", "origin/relay", "proxy", "sched", "sched/collect", "sched/policy", "sched/steer", "sched/source", "sched/qos", "recorder", "catalog", "vodapi", "vodapi/playlist", "editor", "editor/snapshot", "media", "cache"} {
		out, err := exec.Command("go", "list", "-deps", "github.com/rewind-vod/rewind/"+pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "github.com/aws/") || strings.HasPrefix(dep, "github.com/rewind-vod/rewind/infra/store/") ||
				strings.HasPrefix(dep, "github.com/rewind-vod/rewind/infra/queue/") {
				t.Errorf("%s links %s", pkg, dep)
			}
		}
	}
}
