package testproc

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestStartFailures(t *testing.T) {
	never := func() error { return errors.New("not yet") }
	_, err := Start(exec.Command("sh", "-c", "echo bye; exit 3"), 5*time.Second, never)
	if err == nil || !strings.Contains(err.Error(), "exited before answering") || !strings.Contains(err.Error(), "bye") {
		t.Errorf("a process that exits: %v", err)
	}
	start := time.Now()
	_, err = Start(exec.Command("sleep", "30"), 200*time.Millisecond, never)
	if err == nil || !strings.Contains(err.Error(), "no answer within") || time.Since(start) > 5*time.Second {
		t.Errorf("a process that never gets healthy: %v after %v", err, time.Since(start))
	}
	p, err := Start(exec.Command("sleep", "30"), time.Second, func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	p.Kill() // returns once the process is gone
}

func TestBinary(t *testing.T) {
	t.Setenv("TESTPROC_BIN", "/nonexistent/tool")
	if _, err := Binary("TESTPROC_BIN", "tool"); err == nil {
		t.Error("a missing $TESTPROC_BIN was accepted")
	}
	t.Setenv("TESTPROC_BIN", "/bin/sh")
	if p, err := Binary("TESTPROC_BIN", "tool"); err != nil || p != "/bin/sh" {
		t.Errorf("Binary = %q, %v", p, err)
	}
}
