package config

import (
	"strings"
	"testing"
)

func TestNATSSinkAndClusterDefaults(t *testing.T) {
	cfg, err := Parse([]byte(`
[[sink]]
name = "js"
kind = "nats"

[[stream]]
name = "s"
url = "ws://127.0.0.1:1/ws"
  [[stream.route]]
  type = "*"
  sinks = ["js"]

[cluster]
instance = "a"
`), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Sinks[0]
	if s.Subject != DefaultNATSSubject || s.JetStream != DefaultNATSJetStream || s.MaxPending != DefaultNATSMaxPending ||
		s.Timeout.Duration != DefaultNATSTimeout || s.DuplicateWindow.Duration != DefaultNATSDuplicateWindow ||
		len(s.URLs) != 1 || s.URLs[0] != DefaultNATSURL {
		t.Errorf("nats sink defaults not applied: %+v", s)
	}
	c := cfg.Cluster
	if c == nil || c.Instance != "a" || c.LeaseTTL.Duration != DefaultClusterLeaseTTL || c.Bucket != DefaultClusterBucket {
		t.Errorf("cluster = %+v, want defaults with instance a", c)
	}
	if cfg2, _ := Parse([]byte("[[stream]]\nname = \"s\"\nurl = \"ws://h/\"\n"), "t.toml"); cfg2 == nil || cfg2.Cluster != nil {
		t.Errorf("without [cluster]: Cluster = %+v, want nil", cfg2)
	}
}

func TestNATSSinkAndClusterErrors(t *testing.T) {
	_, err := Parse([]byte(`
[[sink]]
name = "js"
kind = "nats"
urls = ["http://127.0.0.1:4222"]
subject = "a.{stream}x.>"
storage = "disk"
max_pending = 0

[[stream]]
name = "s"
url = "ws://127.0.0.1:1/ws"
  [[stream.route]]
  type = "*"
  sinks = ["js"]

[cluster]
lease_ttl = "1s"
bucket = "a.b"
`), "t.toml")
	if err == nil {
		t.Fatal("bad nats config accepted")
	}
	for _, want := range []string{"urls", "subject", "storage", "max_pending", "cluster.lease_ttl", "cluster.bucket"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
}
