package vault

import (
	"context"
	"testing"

	"github.com/trove-project/trove/ledger"
)

// Jobs left running by a stopped process are failed as interrupted, each
// with its log entry; finished jobs are left alone.
func TestFailInterruptedJobs(t *testing.T) {
	v := createForTest(t, Config{})
	ctx := context.Background()
	conn, err := v.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The jobs' consent does not matter here: insert them without it.
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
		t.Fatal(err)
	}
	for _, j := range []struct{ id, state string }{{"job_a", "running"}, {"job_b", "succeeded"}, {"job_c", "running"}} {
		if _, err := conn.ExecContext(ctx, `INSERT INTO jobs (id, consent_id, requester, algorithm, state, created_at) VALUES (?, 'c', 'did:key:zX', 'builtin:stats@1', ?, ?)`,
			j.id, j.state, formatTime(v.now())); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = ON`); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	n, err := v.FailInterruptedJobs(ctx)
	if err != nil || n != 2 {
		t.Fatalf("failed %d interrupted jobs (%v), want 2", n, err)
	}
	for id, want := range map[string]string{"job_a": JobFailed, "job_b": JobSucceeded, "job_c": JobFailed} {
		var state, reason string
		if err := v.db.QueryRowContext(ctx, `SELECT state, reason FROM jobs WHERE id = ?`, id).Scan(&state, &reason); err != nil {
			t.Fatal(err)
		}
		if state != want || (want == JobFailed) != (reason == "interrupted") {
			t.Errorf("%s: %s (%q), want %s", id, state, reason, want)
		}
	}
	size, err := v.LogSize(ctx)
	if err != nil || size != 2 {
		t.Fatalf("log size %d (%v), want 2 entries", size, err)
	}
	b, err := v.LogEntry(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ledger.ParseEntry(b)
	if err != nil || e.Type != ledger.RunFinished || e.Fields["reason"] != "interrupted" {
		t.Fatalf("logged %+v (%v)", e, err)
	}
	if n, err := v.FailInterruptedJobs(ctx); err != nil || n != 0 {
		t.Fatalf("second call failed %d (%v)", n, err)
	}
}
