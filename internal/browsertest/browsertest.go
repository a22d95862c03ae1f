// Package browsertest finds what the browser tests drive: node, Debian's
// Chromium and the npm packages `make deps` installs under .tools/node
// (playwright-core, the full hls.js build).
package browsertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Chromium is Debian's browser, which playwright-core drives (no browser
// download).
const Chromium = "/usr/bin/chromium"

// NodeModules checks node and Chromium are installed and returns the
// node_modules folder at the module root, with playwright-core and the
// other packages or files need names in it; a missing one fails the test
// (`make deps` installs them all).
func NodeModules(t testing.TB, need ...string) string {
	t.Helper()
	for _, b := range []string{"node", Chromium} {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s not found: run `make deps`", b)
		}
	}
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
	nm := filepath.Join(dir, ".tools", "node", "node_modules")
	for _, p := range append([]string{"playwright-core"}, need...) {
		if _, err := os.Stat(filepath.Join(nm, p)); err != nil {
			t.Fatalf("%s not found under %s: run `make deps`", p, nm)
		}
	}
	return nm
}

// Command is node running script with args, finding its packages in nm.
func Command(nm, script string, args ...string) *exec.Cmd {
	cmd := exec.Command("node", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nm)
	return cmd
}
