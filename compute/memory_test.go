package compute

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// rssChildEnv, when set, makes TestHostMemoryStaysNearCap the child that
// runs the job; its value is the path of the hostile module.
const rssChildEnv = "TROVE_COMPUTE_RSS_CHILD"

// memoryCapPages is the memory cap of the RSS test: 128 MiB.
const memoryCapPages = 2048

// A module that grows its memory 1 MiB at a time until it hits the cap
// drives the host's peak resident memory to about the cap, not to a
// multiple of it. The job runs in a child process (this test binary again)
// so that its peak is measured alone.
func TestHostMemoryStaysNearCap(t *testing.T) {
	if path := os.Getenv(rssChildEnv); path != "" {
		rssChild(t, path)
		return
	}
	module := filepath.Join(t.TempDir(), "hostile.wasm")
	if err := os.WriteFile(module, testModule(t, "hostile"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHostMemoryStaysNearCap$", "-test.v")
	cmd.Env = append(os.Environ(), rssChildEnv+"="+module)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var baseline, peak int64 = -1, -1
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "RSS" {
			baseline, _ = strconv.ParseInt(f[1], 10, 64)
			peak, _ = strconv.ParseInt(f[2], 10, 64)
		}
	}
	if baseline < 0 || peak < 0 {
		t.Fatalf("no RSS line from the child:\n%s", out)
	}
	capBytes := int64(memoryCapPages * wasmPageSize)
	// The guest may use all of the cap; allow a quarter of it again for the
	// host's own allocations during the job (frame, output, GC slack).
	// wazero's default allocator copies the memory on each growth and
	// peaks at several times the cap.
	bound := baseline + capBytes + capBytes/4
	t.Logf("baseline %d MiB, peak %d MiB, cap %d MiB, bound %d MiB", baseline>>20, peak>>20, capBytes>>20, bound>>20)
	if peak > bound {
		t.Fatalf("peak RSS %d MiB is over baseline + cap + cap/4 = %d MiB", peak>>20, bound>>20)
	}
}

// rssChild runs the growing job and prints "RSS baseline peak" in bytes:
// baseline is the resident memory just before the job (after compiling
// it), peak the high-water mark after it.
func rssChild(t *testing.T, path string) {
	module, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestSandbox(t, func(c *Config) { c.MemoryLimitPages = memoryCapPages; c.MaxRunningJobs = 1 })
	ctx := context.Background()
	run := func(mode string) error {
		_, err := s.Run(ctx, module, Input{JobID: "j", Table: sampleTable(5), Params: []byte(`{"mode":"` + mode + `"}`)})
		return err
	}
	if err := run("escape"); err != nil { // compile, and warm up
		t.Fatal(err)
	}
	// Reset the high-water mark to the current RSS when the kernel lets
	// us; otherwise the baseline is the high-water mark so far.
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	baseline := max(procStatus(t, "VmRSS"), procStatus(t, "VmHWM"))
	if err := run("grow"); !errors.Is(err, ErrModuleExit) {
		t.Fatalf("growing module: %v, want it to run out of memory and exit", err)
	}
	fmt.Printf("\nRSS %d %d\n", baseline, procStatus(t, "VmHWM"))
}

// procStatus returns a size field of /proc/self/status, in bytes.
func procStatus(t *testing.T, field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

func TestMemoryPool(t *testing.T) {
	p := newMemoryPool(4*wasmPageSize, 1)
	m := p.Allocate(0, 8*wasmPageSize)
	b := m.Reallocate(wasmPageSize)
	if len(b) != wasmPageSize || cap(b) != 4*wasmPageSize {
		t.Fatalf("len %d cap %d", len(b), cap(b))
	}
	b[10] = 7
	b = m.Reallocate(3 * wasmPageSize)
	if b[10] != 7 || len(b) != 3*wasmPageSize {
		t.Fatal("growing lost the contents")
	}
	b[3*wasmPageSize-1] = 9
	if m.Reallocate(5*wasmPageSize) != nil {
		t.Fatal("grew past the pool's buffer size")
	}
	m.Free()
	m.Free() // twice is harmless
	m2 := p.Allocate(0, 2*wasmPageSize)
	b2 := m2.Reallocate(3 * wasmPageSize)
	if b2 != nil {
		t.Fatal("grew past the module's max")
	}
	b2 = m2.Reallocate(2 * wasmPageSize)
	if &b2[0] != &b[0] {
		t.Fatal("the freed buffer was not reused")
	}
	for i, x := range b[:3*wasmPageSize] {
		if x != 0 {
			t.Fatalf("byte %d of a reused buffer is %d, want 0", i, x)
		}
	}
}

// A runaway module is stopped and reported as timed out; the sandbox goes
// on running other jobs.
func TestRunawayStoppedThenNextJobRuns(t *testing.T) {
	s := newTestSandbox(t, func(c *Config) { c.Timeout = 200_000_000 }) // 200ms
	if _, err := hostileRun(t, s, "j1", "loop"); !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if _, err := hostileRun(t, s, "j2", "escape"); err != nil {
		t.Fatal(err)
	}
}
