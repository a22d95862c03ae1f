package steer

import (
	"os/exec"
	"strings"
	"testing"
)

// steer knows the ranking only through Ranker: it links neither the replay
// API nor the policy, nor any store backend (go list -deps proves it).
func TestLinksNoPolicyNorReplayAPI(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/rewind-vod/rewind/sched/steer").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"/vodapi", "/sched/policy", "/sched/source", "/infra/store/", "/infra/queue/", "aws-sdk"} {
			if strings.Contains(dep, banned) {
				t.Errorf("sched/steer links %s", dep)
			}
		}
	}
}
