package poll

import (
	"math"
	"net/http"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	for _, tt := range []struct {
		name              string
		interval, ceiling time.Duration
		failures          int
		want              time.Duration
	}{
		{"no failures polls at interval", 5 * time.Second, time.Minute, 0, 5 * time.Second},
		{"one failure doubles", 5 * time.Second, time.Minute, 1, 10 * time.Second},
		{"three failures", 5 * time.Second, time.Minute, 3, 40 * time.Second},
		{"capped", 5 * time.Second, time.Minute, 4, time.Minute},
		{"many failures do not overflow", 5 * time.Second, time.Minute, 1000, time.Minute},
		{"interval above the cap", 2 * time.Minute, time.Minute, 0, time.Minute},
		{"no cap", time.Second, 0, 10, 1024 * time.Second},
		{"no cap does not overflow", time.Second, 0, 1000, math.MaxInt64},
		{"negative failures", time.Second, time.Minute, -1, time.Second},
		{"zero interval", 0, time.Minute, 3, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Backoff(tt.interval, tt.ceiling, tt.failures); got != tt.want {
				t.Errorf("Backoff(%v, %v, %d) = %v, want %v", tt.interval, tt.ceiling, tt.failures, got, tt.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		value string
		now   time.Time
		want  time.Duration
	}{
		{"", now, 0},
		{"120", now, 2 * time.Minute},
		{" 3 ", now, 3 * time.Second},
		{"0", now, 0},
		{"-5", now, 0},
		{"1.5", now, 0},
		{"soon", now, 0},
		{"99999999999999999", now, math.MaxInt64},
		{now.Add(90 * time.Second).Format(http.TimeFormat), now, 90 * time.Second},
		{now.Add(90 * time.Second).Format(time.RFC850), now, 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), now, 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), time.Time{}, 0},
	} {
		if got := ParseRetryAfter(tt.value, tt.now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q, %v) = %v, want %v", tt.value, tt.now, got, tt.want)
		}
	}
}

func TestDedupe(t *testing.T) {
	var d Dedupe
	a, b, c := []byte(`{"id":1}`), []byte(`{"id":2}`), []byte(`{"id":3}`)
	for _, st := range []struct {
		name string
		in   [][]byte
		want []string
	}{
		{"first response passes", [][]byte{a, b}, []string{"{\"id\":1}", "{\"id\":2}"}},
		{"overlap dropped, order kept", [][]byte{b, c, a}, []string{"{\"id\":3}"}},
		{"only the last response counts", [][]byte{c}, nil},
		{"a seen before the last response is new again", [][]byte{a, a}, []string{"{\"id\":1}", "{\"id\":1}"}},
		{"empty response forgets", nil, nil},
		{"after forgetting", [][]byte{a}, []string{"{\"id\":1}"}},
	} {
		got := d.Filter(st.in)
		if len(got) != len(st.want) {
			t.Fatalf("%s: Filter = %q, want %q", st.name, got, st.want)
		}
		for i := range got {
			if string(got[i]) != st.want[i] {
				t.Errorf("%s: Filter[%d] = %q, want %q", st.name, i, got[i], st.want[i])
			}
		}
	}
}
