package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/ledger"
)

func createForTest(t *testing.T, cfg Config) *Vault {
	t.Helper()
	cfg.Home = filepath.Join(t.TempDir(), "vault")
	cfg.WorkFactor = 10
	v, err := Create(context.Background(), cfg, []byte("p"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// Writes queued while the writer is busy are committed together, and one
// that fails rolls back alone: its state change and its log entry both.
func TestBatchedWriteFailsAlone(t *testing.T) {
	v := createForTest(t, Config{})
	ctx := context.Background()
	// Hold the writer so that the writes below queue up into one batch.
	release, held := make(chan struct{}), make(chan struct{})
	holdDone := make(chan error, 1)
	go func() {
		holdDone <- v.write(ctx, func(tx *sql.Tx) error { close(held); <-release; return nil })
	}()
	<-held
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = v.write(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, 'x')`, fmt.Sprint("k", i)); err != nil {
					return err
				}
				if _, err := v.appendLog(ctx, tx, ledger.Entry{Type: ledger.JobRejected, Time: v.now(), Fields: map[string]string{"i": fmt.Sprint(i)}}); err != nil {
					return err
				}
				if i%5 == 0 {
					return errors.New("refused")
				}
				return nil
			})
		}()
	}
	waitQueued(t, v, n)
	close(release)
	wg.Wait()
	if err := <-holdDone; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if (i%5 == 0) != (err != nil) {
			t.Errorf("write %d: %v", i, err)
		}
	}
	var rows int
	if err := v.db.QueryRow(`SELECT count(*) FROM meta WHERE key LIKE 'k%'`).Scan(&rows); err != nil || rows != n-n/5 {
		t.Fatalf("%d rows committed (%v), want %d", rows, err, n-n/5)
	}
	size, err := v.LogSize(ctx)
	if err != nil || size != n-n/5 {
		t.Fatalf("log size %d (%v), want %d", size, err, n-n/5)
	}
	// The queued writes were one batch: one transaction, one checkpoint.
	var cps int
	if err := v.db.QueryRow(`SELECT count(*) FROM checkpoints`).Scan(&cps); err != nil || cps != 1 {
		t.Fatalf("%d checkpoints (%v), want 1 for one batch", cps, err)
	}
	if _, err := v.VerifyLog(ctx); err != nil {
		t.Fatal(err)
	}
}

// A full write queue refuses at once with ETOOMANY; writeWait waits.
func TestWriteQueueBackPressure(t *testing.T) {
	v := createForTest(t, Config{WriteQueue: 2})
	ctx := context.Background()
	release, held := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		v.write(ctx, func(tx *sql.Tx) error { close(held); <-release; return nil })
	}()
	<-held
	noop := func(tx *sql.Tx) error { return nil }
	queued := make(chan error, 3)
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); queued <- v.write(ctx, noop) }()
	}
	waitQueued(t, v, 2)
	if err := v.write(ctx, noop); trove.ErrorCode(err) != trove.ETOOMANY {
		t.Fatalf("write to a full queue: %v, want ETOOMANY", err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); queued <- v.writeWait(ctx, noop) }()
	close(release)
	wg.Wait()
	for range 3 {
		if err := <-queued; err != nil {
			t.Fatal(err)
		}
	}
}

// A write whose caller has gone before it ran is not run.
func TestWriteOfGoneCallerIsNotRun(t *testing.T) {
	v := createForTest(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	if err := v.write(ctx, func(tx *sql.Tx) error { ran = true; return nil }); !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("write with a cancelled context: %v, ran %v", err, ran)
	}
}

// waitQueued waits until n writes are queued behind the writer.
func waitQueued(t *testing.T, v *Vault, n int) {
	t.Helper()
	for i := 0; len(v.commits.queue) < n; i++ {
		if i > 1e7 {
			t.Fatalf("%d writes queued, want %d", len(v.commits.queue), n)
		}
		runtimeGosched()
	}
}

func runtimeGosched() { runtime.Gosched() }

// A write that panics fails alone, as an internal error; the writer and
// the other writes go on.
func TestPanickingWriteFailsAlone(t *testing.T) {
	v := createForTest(t, Config{})
	ctx := context.Background()
	err := v.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('panicked', 'x')`); err != nil {
			return err
		}
		panic("boom")
	})
	if trove.ErrorCode(err) != trove.EINTERNAL {
		t.Fatalf("panicking write: %v, want EINTERNAL", err)
	}
	if err := v.logOnly(ctx, ledger.Entry{Type: ledger.JobRejected, Time: v.now(), Fields: map[string]string{"after": "panic"}}); err != nil {
		t.Fatalf("write after a panic: %v", err)
	}
	var n int
	if err := v.db.QueryRow(`SELECT count(*) FROM meta WHERE key = 'panicked'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the panicking write's change: %d rows (%v), want rolled back", n, err)
	}
}
