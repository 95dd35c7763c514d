package upstream

import "testing"

func BenchmarkEncode8K(b *testing.B) {
	s := New(Options{EventSize: 8192})
	for i := 0; i < b.N; i++ {
		s.encode("processing_progress", uint64(i), map[string]any{"job": "job-1", "progress": 42.5, "eta": "12s", "current_file": "scan_0042.tif"})
	}
}
func BenchmarkPublish200(b *testing.B) {
	s := New(Options{EventSize: 200})
	for i := 0; i < b.N; i++ {
		s.Publish("processing_progress", map[string]any{"job": "job-1", "progress": 42.5, "eta": "12s", "current_file": "scan_0042.tif"})
	}
}
