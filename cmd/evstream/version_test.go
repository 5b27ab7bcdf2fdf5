package main

import (
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "25108dc0f553aaaabbbbccccddddeeeeffff0000"},
		{Key: "vcs.time", Value: "2026-12-01T20:50:10Z"}, {Key: "vcs.modified", Value: "true"}}
	goVer := "; " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")"
	cases := []struct {
		name, linked string
		info         *debug.BuildInfo
		want         string
	}{
		{"checkout", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261201205010-25108dc0f553+dirty"}, Settings: vcs},
			devVersion + " (git 25108dc0f553, 2026-12-01T20:50:10Z, modified" + goVer},
		{"go install @version", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.2"}},
			"1.4.2 (no VCS revision" + goVer},
		{"linked version wins", "2.0.0", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.2"}, Settings: vcs[:1]},
			"2.0.0 (git 25108dc0f553" + goVer},
		{"devel without VCS", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}},
			devVersion + " (no VCS revision" + goVer},
	}
	for _, c := range cases {
		if got := formatVersion(c.linked, c.info, true); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// TestVersionShowsTheRevision: the binary prints the VCS revision its
// build recorded (go version -m shows what the build recorded), with
// --version and version alike.
func TestVersionShowsTheRevision(t *testing.T) {
	out, err := exec.Command("go", "version", "-m", evstreamBin).Output()
	if err != nil {
		t.Fatal(err)
	}
	rev := ""
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision=") {
			rev = strings.TrimPrefix(f[1], "vcs.revision=")[:12]
		}
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, stdout, _ := runToEnd(t, args...)
		if code != 0 || !strings.HasPrefix(stdout, "evstream "+devVersion+" (") {
			t.Fatalf("%v: exit %d, %q", args, code, stdout)
		}
		if rev != "" && !strings.Contains(stdout, "git "+rev) {
			t.Errorf("%v = %q, want the revision %s the build recorded", args, stdout, rev)
		}
		if rev == "" && !strings.Contains(stdout, "no VCS revision") {
			t.Errorf("%v = %q: the build recorded no revision, and it should say so", args, stdout)
		}
	}
}
