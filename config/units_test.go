package config

import (
	"strings"
	"testing"
	"time"
)

func TestDurationText(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"20s", 20 * time.Second, ""},
		{"1m30s", 90 * time.Second, ""},
		{"100ms", 100 * time.Millisecond, ""},
		{"0", 0, ""},
		{"0s", 0, ""},
		{" 2h ", 2 * time.Hour, ""},
		{"-5s", 0, "negative"},
		{"30", 0, "needs a unit"},
		{"1.5", 0, "needs a unit"},
		{"5 seconds", 0, "invalid duration"},
		{"", 0, "invalid duration"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			var d Duration
			err := d.UnmarshalText([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("UnmarshalText(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || d.Duration != tt.want {
				t.Fatalf("UnmarshalText(%q) = %v, %v; want %v", tt.in, d.Duration, err, tt.want)
			}
			text, _ := d.MarshalText()
			var back Duration
			if err := back.UnmarshalText(text); err != nil || back != d {
				t.Errorf("round trip %q -> %q -> %v, %v", tt.in, text, back.Duration, err)
			}
		})
	}
}

func TestSizeText(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    Size
		text    string // MarshalText of want
		wantErr string
	}{
		{"1MiB", 1 << 20, "1MiB", ""},
		{"512KiB", 512 << 10, "512KiB", ""},
		{"10MB", 10_000_000, "10MB", ""},
		{"1GiB", 1 << 30, "1GiB", ""},
		{"100B", 100, "100B", ""},
		{"1048576", 1 << 20, "1MiB", ""},
		{"1000", 1000, "1KB", ""},
		{"1 mib", 1 << 20, "1MiB", ""},
		{"0", 0, "0B", ""},
		{"1025", 1025, "1025B", ""},
		{"-1MiB", 0, "", "negative"},
		{"-3", 0, "", "negative"},
		{"1.5MiB", 0, "", "invalid size"},
		{"12XB", 0, "", "invalid size"},
		{"MiB", 0, "", "invalid size"},
		{"", 0, "", "invalid size"},
		{"9999999999TiB", 0, "", "too large"},
		{"99999999999999999999", 0, "", "too large"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			var s Size
			err := s.UnmarshalText([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("UnmarshalText(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || s != tt.want {
				t.Fatalf("UnmarshalText(%q) = %d, %v; want %d", tt.in, s, err, tt.want)
			}
			if text, _ := s.MarshalText(); string(text) != tt.text {
				t.Errorf("MarshalText(%d) = %q, want %q", s, text, tt.text)
			}
		})
	}
}
