package framing_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"holdfast/config"
	"holdfast/framing"
)

// TestReadmeFeedConfigsWork: every worked config in README's "Connecting to real feeds" loads,
// validates and builds its codec.
func TestReadmeFeedConfigsWork(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "## Connecting to real feeds")
	if start < 0 {
		t.Fatal(`README has no "Connecting to real feeds" section`)
	}
	section := doc[start:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	blocks := regexp.MustCompile("(?s)```toml\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) < 5 {
		t.Fatalf("%d worked configs, want at least 5", len(blocks))
	}
	for _, blk := range blocks {
		src := "[[sink]]\nname = \"events\"\nkind = \"stdout\"\n\n" + blk[1]
		cfg, err := config.Parse([]byte(src), "README.md")
		if err != nil {
			t.Errorf("worked config:\n%s\n%v", blk[1], err)
			continue
		}
		for _, sc := range cfg.Streams {
			if _, err := framing.New(sc); err != nil {
				t.Errorf("stream %s: %v", sc.Name, err)
			}
		}
	}
}
