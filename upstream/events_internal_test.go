package upstream

import (
	"encoding/json"
	"fmt"
	"testing"
)

// Generate's hand-written encoding must be exactly what encoding/json makes of the same
// fields, which is what Publish sends.
func TestGeneratedEncodeMatchesJSON(t *testing.T) {
	for _, done := range []int{1, 9, 10, 99, 100, 999, 1000, 12345} {
		j := &job{id: fmt.Sprintf("job-%d", done), files: 40, done: done}
		for _, g := range []generated{
			{typ: "processing_progress", job: j, eta: "3s", progress: 12.5},
			{typ: "processing_progress", job: j, eta: "1m2s", progress: 100},
			{typ: "processing_progress", job: j, eta: "0s", progress: 0.1},
			{typ: "processing_complete", job: j, duration: "1.234s"},
			{typ: "processing_error", job: j, failed: true},
		} {
			got := g.encode(uint64(done) * 7)
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(got, &raw); err != nil {
				t.Fatalf("%s: not JSON: %v: %s", g.typ, err, got)
			}
			fields := map[string]any{"job": j.id}
			switch {
			case g.failed:
				fields["error"], fields["current_file"] = generatedError, fmt.Sprintf("scan_%04d.tif", done)
			case g.duration != "":
				fields["files"], fields["duration"] = j.files, g.duration
			default:
				fields["progress"], fields["eta"], fields["current_file"] = g.progress, g.eta, fmt.Sprintf("scan_%04d.tif", done)
			}
			// sent_at is the clock's: take its literal from the output (a float64 loses digits).
			fields["type"], fields["seq"], fields["sent_at"] = g.typ, uint64(done)*7, raw["sent_at"]
			want, err := json.Marshal(fields)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("%s done=%d:\n got %s\nwant %s", g.typ, done, got, want)
			}
		}
	}
}
