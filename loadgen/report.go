package loadgen

import (
	"bufio"
	"os"
	"runtime"
	"strings"
)

// ReportSchema identifies the layout of Report's JSON (docs/BENCH.md).
const ReportSchema = "evstream-bench/1"

// Machine describes where a benchmark ran.
type Machine struct {
	GoVersion  string `json:"go_version"`
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	NumCPU     int    `json:"num_cpu"`
	// CPUModel is the first "model name" of /proc/cpuinfo ("" when
	// unknown).
	CPUModel string `json:"cpu_model"`
}

// DescribeMachine returns the Machine this process runs on.
func DescribeMachine() Machine {
	return Machine{
		GoVersion:  runtime.Version(),
		GOOS:       runtime.GOOS,
		GOARCH:     runtime.GOARCH,
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		NumCPU:     runtime.NumCPU(),
		CPUModel:   cpuModel("/proc/cpuinfo"),
	}
}

// cpuModel returns the first "model name" line's value of a cpuinfo file.
func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Report is the machine-readable outcome of a bench run: what ran, where,
// with which settings, and every scenario's Result.
type Report struct {
	Schema          string   `json:"schema"`
	EvstreamVersion string   `json:"evstream_version"`
	Date            string   `json:"date"` // RFC 3339, UTC, when the run started
	Command         []string `json:"command"`
	Machine         Machine  `json:"machine"`
	// Settings are the flags as given (name → value).
	Settings  map[string]string `json:"settings"`
	Scenarios []*Result         `json:"scenarios"`
	// OK is true when every scenario is OK.
	OK bool `json:"ok"`
}
