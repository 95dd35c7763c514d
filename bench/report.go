package bench

import (
	"os"
	"runtime"
	"strings"
)

// Machine describes where the figures were taken.
type Machine struct {
	NProc       int
	CPUModel    string
	MemTotalMiB float64
	GoVersion   string
	LoadBefore  string // /proc/loadavg when the run started
	LoadAfter   string
}

// ReadMachine fills everything but LoadAfter.
func ReadMachine() Machine {
	m := Machine{NProc: runtime.NumCPU(), GoVersion: runtime.Version(), LoadBefore: LoadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if kb, err := statusKB(b, "MemTotal:"); err == nil {
			m.MemTotalMiB = MiB(kb)
		}
	}
	return m
}

// Report is everything one `daemon bench` run measured; absent modes stay empty.
type Report struct {
	Machine    Machine
	Throughput []ThroughputResult `json:",omitempty"`
	Latency    []LatencyResult    `json:",omitempty"`
	Idle       *IdleResult        `json:",omitempty"`
	Streams    *StreamsResult     `json:",omitempty"`
	SlowSink   *SlowSinkResult    `json:",omitempty"`
	Faults     []FaultResult      `json:",omitempty"`
}
