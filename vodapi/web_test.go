package vodapi

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nodeModules finds the playwright-core that `make deps` installs under
// .tools/node at the module root.
func nodeModules(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			nm := filepath.Join(dir, ".tools", "node", "node_modules")
			if _, err := os.Stat(filepath.Join(nm, "playwright-core")); err != nil {
				t.Fatalf("playwright-core not found under %s: run `make deps`", nm)
			}
			return nm
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}

// hls.js in headless Chromium plays a replay from the page: currentTime
// passes 5 s and no fatal error fires.
func TestPagePlaysInChromium(t *testing.T) {
	for _, b := range []string{"node", "/usr/bin/chromium"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s not found: run `make deps`", b)
		}
	}
	nm := nodeModules(t)
	a := newAPI(t, Config{})
	writeRun(t, a.st, time.Now().Add(-time.Hour), false)

	page, body := get(t, a.ts.URL+"/")
	if page.StatusCode != 200 || !strings.Contains(string(body), "hls.light.min.js") {
		t.Fatalf("page: %d", page.StatusCode)
	}
	if resp, _ := get(t, a.ts.URL+"/web/vendor/hls.light.min.js"); resp.StatusCode != 200 {
		t.Fatalf("hls.js: %d", resp.StatusCode)
	}
	cmd := exec.Command("node", "testdata/browser/play.cjs", a.ts.URL+"/")
	cmd.Env = append(os.Environ(), "NODE_PATH="+nm)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser: %v\n%s", err, out)
	}
	var res struct {
		CurrentTime float64  `json:"currentTime"`
		Errors      []string `json:"errors"`
		Fatal       []string `json:"fatal"`
		Console     []string `json:"console"`
		Clock       string   `json:"clock"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("browser output %q: %v", out, err)
	}
	if res.CurrentTime <= 5 || len(res.Errors) > 0 || len(res.Fatal) > 0 {
		t.Errorf("played to %.2fs; errors %v; fatal %v; console %v", res.CurrentTime, res.Errors, res.Fatal, res.Console)
	}
	// The page shows the wall clock of what plays.
	if !strings.HasPrefix(res.Clock, time.Now().UTC().Add(-time.Hour).Format("2006-01-02")) {
		t.Errorf("wall clock shown: %q", res.Clock)
	}
}
