package bench

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It is 100 on every
// Linux build Go supports; the standard library has no sysconf to ask.
const clockTicks = 100

// Proc is a snapshot of this process's counters.
type Proc struct {
	At      time.Time
	RSS     int64         // VmRSS, bytes
	HWM     int64         // VmHWM (peak RSS since start), bytes
	CPU     time.Duration // utime + stime
	Mallocs uint64        // runtime.MemStats.Mallocs: heap objects allocated since start
}

// ReadProc reads /proc/self/status, /proc/self/stat and runtime.MemStats. withMallocs
// decides whether to read MemStats, which stops the world briefly.
func ReadProc(withMallocs bool) (Proc, error) {
	p := Proc{At: time.Now()}
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return p, fmt.Errorf("read status: %w", err)
	}
	if p.RSS, err = statusKB(st, "VmRSS:"); err != nil {
		return p, err
	}
	if p.HWM, err = statusKB(st, "VmHWM:"); err != nil {
		return p, err
	}
	if p.CPU, err = selfCPU(); err != nil {
		return p, err
	}
	if withMallocs {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		p.Mallocs = ms.Mallocs
	}
	return p, nil
}

// statusKB reads a "Key:   123 kB" line of /proc/self/status as bytes.
func statusKB(st []byte, key string) (int64, error) {
	i := bytes.Index(st, []byte(key))
	if i < 0 {
		return 0, fmt.Errorf("status: no %s", key)
	}
	line := st[i+len(key):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	f := strings.Fields(string(line))
	if len(f) == 0 {
		return 0, fmt.Errorf("status: empty %s", key)
	}
	kb, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("status %s: %w", key, err)
	}
	return kb << 10, nil
}

// selfCPU is utime+stime of this process (all threads) from /proc/self/stat.
func selfCPU() (time.Duration, error) { return procCPU("/proc/self/stat") }

// procCPU reads utime+stime from a /proc/PID/stat file.
func procCPU(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read stat: %w", err)
	}
	// comm (field 2) may hold spaces; fields after its closing paren are plain.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no comm")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 { // state is f[0]; utime is field 14 = f[11], stime f[12]
		return 0, fmt.Errorf("stat: %d fields", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// LoadAvg is /proc/loadavg's first three fields, to say how busy the machine was.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// MiB converts bytes for printing.
func MiB(b int64) float64 { return float64(b) / (1 << 20) }
