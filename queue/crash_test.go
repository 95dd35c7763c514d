package queue

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests here re-run the test binary as a child that works on a bbolt file and reports
// on stdout each step after it returned; the parent then checks the file against the reports.
const (
	childEnv  = "HOLDFAST_QUEUE_CHILD" // which child to be
	childPath = "HOLDFAST_QUEUE_PATH"  // the bbolt file
)

// startChild runs TestChild as role and returns its stdout lines as they come.
func startChild(t *testing.T, role, path string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), childEnv+"="+role, childPath+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, bufio.NewScanner(out)
}

// TestChild is not a test: it is the child process of the tests below.
func TestChild(t *testing.T) {
	role, path := os.Getenv(childEnv), os.Getenv(childPath)
	if role == "" {
		t.Skip("child process of TestKillAfterPush and TestDiskFull")
	}
	s, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	q, err := New(qcfg(1_000_000, 1<<30, "reject", 0), s)
	if err != nil {
		t.Fatal(err)
	}
	switch role {
	case "kill": // push and ack until killed
		deadline := time.Now().Add(20 * time.Second)
		for i := 0; time.Now().Before(deadline); i++ {
			msgs := make([][]byte, 1+i%3)
			for j := range msgs {
				msgs[j] = fmt.Appendf(nil, "m%d.%d", i, j)
			}
			res, err := q.Push(msgs, t0)
			if err != nil {
				t.Fatal(err)
			}
			for j, id := range res.IDs {
				fmt.Printf("push %d %s\n", id, msgs[j])
			}
			if i%4 == 3 {
				front, _ := q.Peek(2, t0)
				if _, err := q.AckUpTo(front[len(front)-1].ID); err != nil {
					t.Fatal(err)
				}
				fmt.Printf("ack %d\n", front[len(front)-1].ID)
			}
		}
	case "full": // push until the file size limit makes a write fail
		signal.Ignore(syscall.SIGXFSZ) // get EFBIG rather than being killed
		lim := syscall.Rlimit{Cur: 1 << 20, Max: 1 << 20}
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
			t.Fatal(err)
		}
		msg := make([]byte, 16<<10)
		for i := 0; i < 1000; i++ {
			res, err := q.Push([][]byte{msg}, t0)
			if err != nil {
				fmt.Printf("err %d %d %s\n", q.Len(), q.Bytes(), err)
				break
			}
			fmt.Printf("push %d\n", res.IDs[0])
		}
		// After the failure the queue still works for what needs no new space.
		if err := q.Ack(1); err != nil {
			fmt.Printf("ackerr %s\n", err)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("done")
}

// TestKillAfterPush SIGKILLs a process that is pushing and acking, then checks that every
// push it reported is in the file unless it also reported the ack.
func TestKillAfterPush(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	cmd, lines := startChild(t, "kill", path)
	pushed, acked := map[uint64]string{}, uint64(0)
	for len(pushed) < 300 && lines.Scan() {
		f := strings.Fields(lines.Text())
		if len(f) < 2 {
			continue
		}
		id, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "push":
			if len(f) == 3 {
				pushed[id] = f[2]
			}
		case "ack":
			acked = id
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if len(pushed) < 300 {
		t.Fatalf("child reported %d pushes before it ended, want 300", len(pushed))
	}

	s, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	items, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	stored := map[uint64]string{}
	for i, it := range items {
		stored[it.ID] = string(it.Data)
		if i > 0 && it.ID <= items[i-1].ID {
			t.Errorf("ids out of order: %d after %d", it.ID, items[i-1].ID)
		}
		if it.ID <= acked {
			t.Errorf("item %d is stored, but the ack up to %d was reported", it.ID, acked)
		}
	}
	for id, data := range pushed {
		if got, ok := stored[id]; id > acked && (!ok || got != data) {
			t.Errorf("reported push %d %q is stored as %q (present: %v)", id, data, got, ok)
		}
	}
	t.Logf("killed after %d reported pushes, acked up to %d, %d stored", len(pushed), acked, len(items))
}

// TestDiskFull fills the file up to a size limit: the failing push returns an error and
// changes nothing, and the file holds exactly the pushes reported before it.
func TestDiskFull(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	cmd, lines := startChild(t, "full", path)
	var pushed []uint64
	var errLine, ackErr string
	done := false
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		switch f[0] {
		case "push":
			if len(f) < 2 {
				continue
			}
			id, _ := strconv.ParseUint(f[1], 10, 64)
			pushed = append(pushed, id)
		case "err":
			errLine = lines.Text()
		case "ackerr":
			ackErr = lines.Text()
		case "done":
			done = true
		}
	}
	if err := cmd.Wait(); err != nil || !done {
		t.Fatalf("child: %v (done: %v)", err, done)
	}
	if len(pushed) == 0 || errLine == "" {
		t.Fatalf("child pushed %d and reported error %q, want some pushes then an error", len(pushed), errLine)
	}
	if want := fmt.Sprintf("err %d %d append to queue: ", len(pushed), len(pushed)*16<<10); !strings.HasPrefix(errLine, want) {
		t.Errorf("child reported %q, want %q...", errLine, want)
	}
	if ackErr != "" {
		t.Errorf("ack after the failed push: %s", ackErr)
	}

	s, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	items, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(items), pushed[1:]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored ids %v, want %v (pushed minus acked 1)", got, want)
	}
	t.Logf("%s", errLine)
}
