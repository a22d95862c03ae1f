//go:build !linux

package sqstest

import "os/exec"

// setPdeathsig is Linux-only; elsewhere the test cleanup alone stops the server.
func setPdeathsig(*exec.Cmd) {}
