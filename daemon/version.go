package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=…"; without it the module
// version from the build info is used ("(devel)" for a plain go build becomes "dev").
var version = "dev"

// revision and buildDate may be stamped the same way (the release build does, from git);
// otherwise they come from the VCS information Go records.
var revision, buildDate string

// buildInfo is what `holdfast version` prints and holdfast_build_info carries.
type buildInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`   // VCS commit, with "-dirty" when the tree had changes; "unknown" without VCS info
	BuildDate string `json:"build_date"` // the commit's time (reproducible builds stamp no wall clock); "unknown" without VCS info
	GoVersion string `json:"go_version"`
}

func readBuildInfo() buildInfo {
	bi := buildInfo{Version: version, Revision: "unknown", BuildDate: "unknown", GoVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = &debug.BuildInfo{}
	}
	if bi.Version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		bi.Version = info.Main.Version
	}
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			bi.Revision = s.Value
		case "vcs.time":
			bi.BuildDate = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && bi.Revision != "unknown" {
		bi.Revision += "-dirty"
	}
	if revision != "" {
		bi.Revision = revision
	}
	if buildDate != "" {
		bi.BuildDate = buildDate
	}
	return bi
}

func (b buildInfo) String() string {
	return fmt.Sprintf("holdfast %s\nrevision: %s\nbuild date: %s\ngo: %s\n", b.Version, b.Revision, b.BuildDate, b.GoVersion)
}
