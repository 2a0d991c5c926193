package compute

import (
	"context"
	"errors"
	"runtime"
	"testing"
)

func TestQueue(t *testing.T) {
	q, err := NewQueue(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	leave1, err := q.Enter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The second job waits; a third finds the queue full.
	entered := make(chan func())
	go func() {
		leave, err := q.Enter(ctx)
		if err != nil {
			t.Error(err)
		}
		entered <- leave
	}()
	// Once the waiting job holds its place, a third is refused. Poll: the
	// goroutine takes its place at some point.
	for len(q.waiting) < 2 {
		runtime.Gosched()
		select {
		case <-entered:
			t.Fatal("the second job ran while the first held the only slot")
		default:
		}
	}
	if _, err := q.Enter(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("third job: %v, want ErrBusy", err)
	}
	if r, w := q.Len(); r != 1 || w != 1 {
		t.Fatalf("Len: %d running, %d waiting; want 1, 1", r, w)
	}
	leave1()
	leave2 := <-entered
	// A job that gives up while waiting frees its place.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := q.Enter(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	leave2()
	if r, w := q.Len(); r != 0 || w != 0 {
		t.Fatalf("%d waiting, %d running after all left", len(q.waiting), len(q.running))
	}
	for _, bad := range [][2]int{{0, 1}, {1, -1}} {
		if _, err := NewQueue(bad[0], bad[1]); err == nil {
			t.Errorf("NewQueue(%d, %d) accepted", bad[0], bad[1])
		}
	}
}
