package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("hunter2")
	holder := struct {
		Token Secret `json:"token" toml:"token"`
	}{s}
	var tb bytes.Buffer
	if err := toml.NewEncoder(&tb).Encode(holder); err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(holder)
	for _, out := range []string{
		fmt.Sprint(s), fmt.Sprintf("%s|%v|%q|%#v|%+v", s, s, s, s, holder), fmt.Sprintf("%#v", holder),
		string(js), tb.String(), fmt.Errorf("dial: %v", s).Error(),
	} {
		if strings.Contains(out, "hunter2") || !strings.Contains(out, "[redacted]") {
			t.Errorf("printed %q, want [redacted] and no value", out)
		}
	}
	if string(s) != "hunter2" {
		t.Errorf("string(s) = %q, want the value", string(s))
	}
}

func TestReadToken(t *testing.T) {
	dir, creds := t.TempDir(), t.TempDir()
	write := func(dir, name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	abs := write(dir, "abs.token", "  from-file\n")
	write(creds, "cred.token", "from-credentials\n")
	write(dir, "cred.token", "from-workdir\n")
	write(dir, "local.token", "from-workdir-only\n")
	empty := write(dir, "empty.token", " \n")
	t.Chdir(dir)

	for _, tt := range []struct {
		name, env, file string
		envVal          string // value of TEST_TOKEN; "" = unset
		credDir         string
		want            string
		wantErr         string // substring
		wantIs          error
	}{
		{name: "env wins", env: "TEST_TOKEN", file: abs, envVal: " from-env\n", want: "from-env"},
		{name: "file when env unset", env: "TEST_TOKEN", file: abs, want: "from-file"},
		{name: "file when env blank", env: "TEST_TOKEN", file: abs, envVal: "  ", want: "from-file"},
		{name: "relative file in CREDENTIALS_DIRECTORY first", file: "cred.token", credDir: creds, want: "from-credentials"},
		{name: "relative file without CREDENTIALS_DIRECTORY", file: "cred.token", want: "from-workdir"},
		{name: "relative file not in CREDENTIALS_DIRECTORY", file: "local.token", credDir: creds, want: "from-workdir-only"},
		{name: "absolute file ignores CREDENTIALS_DIRECTORY", file: abs, credDir: creds, want: "from-file"},
		{name: "missing file", file: "missing.token", wantErr: "read token file missing.token", wantIs: fs.ErrNotExist},
		{name: "empty file", file: empty, wantErr: "file is empty", wantIs: ErrNoToken},
		{name: "env unset and no file", env: "TEST_TOKEN", wantErr: "environment variable TEST_TOKEN is unset", wantIs: ErrNoToken},
		{name: "nothing configured", wantErr: "neither token_env nor token_file", wantIs: ErrNoToken},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TEST_TOKEN", tt.envVal)
			t.Setenv("CREDENTIALS_DIRECTORY", tt.credDir)
			got, err := ReadToken(tt.env, tt.file)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, tt.wantIs) {
					t.Fatalf("ReadToken(%q, %q) error = %v, want %q and errors.Is %v", tt.env, tt.file, err, tt.wantErr, tt.wantIs)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("ReadToken(%q, %q) = %q, %v; want %q", tt.env, tt.file, string(got), err, tt.want)
			}
		})
	}
}

func TestReadTokenRereadsTheFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t")
	for _, v := range []string{"one", "two"} {
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := ReadToken("", p); err != nil || string(got) != v {
			t.Errorf("ReadToken after rotation = %q, %v; want %q", string(got), err, v)
		}
	}
}

func TestRedacted(t *testing.T) {
	src := strings.Replace(baseTOML, "[[stream.route]]", `headers = { Authorization = "Bearer s3cret-a", Cookie = "s3cret-b", "X-Api-Key" = "s3cret-c", "X-Session-Token" = "s3cret-d", "User-Agent" = "holdfast", "X-Signed" = "s3cret-p" }
[[stream.route]]`, 1) + `
[[stream.subscribe]]
message = { type = "subscribe", channel = "p", auth = { token = "s3cret-e" }, list = [{ secret = "s3cret-f" }], pass = "s3cret-n", creds = { user = "s3cret-o" } }
[stream.fallback]
poll_url = "https://user:s3cret-g@h/poll?key=s3cret-h#s3cret-i"
headers = { "X-Auth" = "s3cret-j" }

[[sink]]
name = "hook"
kind = "webhook"
url = "https://h/hook?sig=s3cret-k"
headers = { "X-Secret" = "s3cret-l", Accept = "application/json" }

[[sink]]
name = "run"
kind = "exec"
command = ["/bin/true"]
env = { API_KEY = "s3cret-q" }
pass_env = ["LANG"]
`
	src = strings.Replace(src, `url = "ws://127.0.0.1:8080/ws"`, `url = "ws://127.0.0.1:8080/ws?token=s3cret-m"`, 1)
	c, err := Parse([]byte(src), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	before := fmt.Sprintf("%+v %+v", c.Streams[0], *c.Streams[0].Fallback)
	out := c.Redacted()
	if strings.Contains(out, "s3cret") {
		t.Errorf("Redacted() leaks a secret:\n%s", out)
	}
	for _, want := range []string{
		`url = "ws://127.0.0.1:8080/ws?[redacted]"`, `poll_url = "https://user:xxxxx@h/poll?[redacted]#[redacted]"`,
		`User-Agent = "holdfast"`, `Accept = "application/json"`, `Authorization = "[redacted]"`, `channel = "p"`,
		`url = "https://h/hook?[redacted]"`, `max_delay = "30s"`, `read_limit = "1MiB"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Redacted() lacks %s:\n%s", want, out)
		}
	}
	if after := fmt.Sprintf("%+v %+v", c.Streams[0], *c.Streams[0].Fallback); after != before {
		t.Errorf("Redacted() modified the config:\n%s\n%s", before, after)
	}
	// The output is itself a valid configuration.
	if _, err := Parse([]byte(out), "redacted.toml"); err != nil {
		t.Errorf("Parse(Redacted()) = %v", err)
	}
}

func TestHostAndSink(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"wss://user:pw@feed.example.com:8443/v1/stream?token=x", "feed.example.com:8443"},
		{"ws://127.0.0.1:8080/ws", "127.0.0.1:8080"},
		{"ws://h/%zz?token=x", ""},
	} {
		if got := (StreamConfig{URL: tt.url}).Host(); got != tt.want {
			t.Errorf("Host(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
	c := &Config{Sinks: []SinkConfig{{Name: "a", Kind: "stdout"}, {Name: "b", Kind: "file"}}}
	if s, ok := c.Sink("b"); !ok || s.Kind != "file" {
		t.Errorf("Sink(b) = %+v, %v", s, ok)
	}
	if _, ok := c.Sink("c"); ok {
		t.Error("Sink(c) found a sink that does not exist")
	}
}
