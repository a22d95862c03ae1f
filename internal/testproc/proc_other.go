//go:build !linux

package testproc

import "os/exec"

// setPdeathsig is Linux-only; elsewhere the test cleanup alone stops the server.
func setPdeathsig(*exec.Cmd) {}
