package main

import (
	"fmt"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Version is the release, set at link time with
// -ldflags "-X main.Version=1.2.3". Without it, the module version of a
// `go install ...@vX.Y.Z` build is used, else devVersion.
var Version = ""

// devVersion names a build from a checkout: the release being prepared
// (the CHANGELOG's "Unreleased").
const devVersion = "0.2.0-dev"

// versionString returns the version with where the binary comes from, as
// the build recorded it:
//
//	0.2.0-dev (git 1a2b3c4d5e6f, 2026-12-01T20:29:00Z, modified; go1.26.8 linux/amd64)
func versionString() string {
	info, ok := debug.ReadBuildInfo()
	return formatVersion(Version, info, ok)
}

// pseudo matches the timestamp-revision part of a Go pseudo-version
// (v0.0.0-20261201205010-25108dc0f553): a build from a checkout, not a
// release.
var pseudo = regexp.MustCompile(`\d{14}-[0-9a-f]{12}`)

func formatVersion(v string, info *debug.BuildInfo, ok bool) string {
	if v == "" && ok && isRelease(info.Main.Version) {
		v = strings.TrimPrefix(info.Main.Version, "v")
	}
	if v == "" {
		v = devVersion
	}
	var parts []string
	if ok {
		var rev, at, modified string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			parts = append(parts, "git "+rev[:min(12, len(rev))])
		} else {
			parts = append(parts, "no VCS revision")
		}
		if at != "" {
			parts = append(parts, at)
		}
		if modified == "true" {
			parts = append(parts, "modified")
		}
	}
	return fmt.Sprintf("%s (%s; %s %s/%s)", v, strings.Join(parts, ", "), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// isRelease reports whether a module version is a release (v1.2.3), not
// a checkout's "(devel)" or pseudo-version.
func isRelease(v string) bool {
	return v != "" && v != "(devel)" && !pseudo.MatchString(v) && !strings.Contains(v, "+")
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version, the VCS revision it was built from, and the Go version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "evstream %s\n", versionString())
			return nil
		},
	}
}
