package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile checks the image recipe against what it packages, since
// no image can be built here: the run stage installs the Debian package of
// every shared library the (cgo) binary links, runs as a non-root user,
// and the build stage's Go is the one go.mod asks for.
func TestDockerfile(t *testing.T) {
	src, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages := strings.Split(string(src), "\nFROM ")
	if len(stages) != 3 {
		t.Fatalf("want a build stage and a run stage, found %d FROM lines", len(stages)-1)
	}
	build, runStage := stages[1], stages[2]

	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVersion == nil || !strings.HasPrefix(build, "golang:"+string(goVersion[1])+"-bookworm ") {
		t.Errorf("build stage %q does not use go.mod's Go (%s) on bookworm", firstLine(build), goVersion)
	}

	installed := map[string]bool{}
	for _, f := range strings.Fields(strings.ReplaceAll(runStage, "\\\n", " ")) {
		installed[f] = true
	}
	exe, err := elf.Open(binPath)
	if err != nil {
		t.Fatal(err)
	}
	defer exe.Close()
	libs, err := exe.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) < 2 {
		t.Fatalf("the cgo binary links %v: expected libav", libs)
	}
	for _, lib := range libs {
		out, err := exec.Command("dpkg", "-S", "*/"+lib).Output()
		if err != nil {
			t.Errorf("dpkg -S %s: %v", lib, err)
			continue
		}
		pkg, _, _ := strings.Cut(firstLine(string(out)), ":")
		if pkg == "libc6" {
			continue // in every Debian image
		}
		if !installed[pkg] {
			t.Errorf("the binary links %s from %s, which the run stage does not install", lib, pkg)
		}
	}

	user := regexp.MustCompile(`(?m)^USER (\S+)`).FindStringSubmatch(runStage)
	if user == nil || strings.HasPrefix(user[1], "0") || strings.HasPrefix(user[1], "root") {
		t.Errorf("run stage user %v: must be a non-root user", user)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
