package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnit checks deploy/evstream.service: it runs serve as
// Type=notify (which serve implements: TestServeNotifiesSystemd), reloads
// with SIGHUP, runs unprivileged and hardened. When systemd-analyze is
// installed, the unit must also verify, with ExecStart pointing at the
// binary under test.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("../../deploy/evstream.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{
		"Type=notify", "ExecStart=/usr/local/bin/evstream serve --config /etc/evstream/evstream.yaml",
		"ExecReload=/bin/kill -HUP $MAINPID", "DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict",
		"StateDirectory=evstream", "WorkingDirectory=/var/lib/evstream", "CapabilityBoundingSet=\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("deploy/evstream.service lacks %q", want)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: the unit's syntax is not verified")
		return
	}
	path := filepath.Join(t.TempDir(), "evstream.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/evstream", evstreamBin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
