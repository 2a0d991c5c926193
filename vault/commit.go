package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/trove-project/trove"
)

// Group commit. Every write of the vault — a state change and the log
// entries that record it — is a function run by one writer goroutine.
// The writer takes whatever writes are queued (up to Config.MaxBatch),
// runs them in one SQLite transaction, each inside a SAVEPOINT so that one
// failing function rolls back alone, and commits once: one fsync for the
// whole batch. Each caller learns its outcome only after that commit, so a
// result is never released before the entry behind its receipt is
// durable. The log's tree state is still read inside the transaction, by
// appendLog, so another process appending to the same database between
// batches is seen. The queue is bounded: when it is full a write is
// refused at once with trove.ETOOMANY rather than piling up.

// writeReq is one caller's write and where its outcome goes.
type writeReq struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	done chan error
	// alone marks a write that runs in a transaction of its own, between
	// batches, and seals the log itself (a key rotation); committed, if
	// set, runs on the writer goroutine once it has committed, before any
	// later write runs.
	alone     bool
	committed func()
}

// committer owns the writer goroutine and its queue.
type committer struct {
	queue chan *writeReq

	mu      sync.RWMutex // held for reading while enqueueing, for writing by stop
	stopped bool
	quit    chan struct{}
	exited  chan struct{}
}

// startCommitter starts the writer goroutine of v.
func (v *Vault) startCommitter() {
	v.commits = &committer{
		queue:  make(chan *writeReq, v.cfg.WriteQueue),
		quit:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	go v.writer()
}

// stopCommitter finishes the queued writes and stops the writer.
func (v *Vault) stopCommitter() {
	c := v.commits
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	c.stopped = true
	close(c.quit)
	c.mu.Unlock()
	<-c.exited
}

// write runs fn in a write transaction shared with the other writes of
// its batch, inside a savepoint of its own. It returns fn's error, or a
// storage error (EUNAVAILABLE) if the batch could not commit, or ETOOMANY
// if the write queue is full — and only once the outcome is durable. fn
// runs on the writer goroutine: it must not call write itself, and it
// should do no slow work (everything slow is done before calling write).
func (v *Vault) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return v.enqueue(ctx, fn, false)
}

// writeWait is write for work that must not be refused for back-pressure
// because something irrevocable already happened (a job ran and used a
// run): it waits for room in the queue instead of failing with ETOOMANY.
func (v *Vault) writeWait(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return v.enqueue(ctx, fn, true)
}

// commitFailedError is what writeAlone returns when the transaction's
// COMMIT itself failed. Whether it reached the disk is then unknown in
// this process: a failed fsync of the write-ahead log can leave a commit
// that the next opening of the database recovers.
type commitFailedError struct{ err error }

func (e *commitFailedError) Error() string { return e.err.Error() }
func (e *commitFailedError) Unwrap() error { return e.err }

// writeAlone runs fn in a transaction of its own, with no other write
// in it, waiting for room in the queue. fn must leave the log sealed
// (every log state with its checkpoint): no checkpoint is signed for it.
// Once it has committed, committed runs on the writer goroutine before
// any later write: what it changes in memory is seen by every write
// after it and by none before.
func (v *Vault) writeAlone(ctx context.Context, fn func(tx *sql.Tx) error, committed func()) error {
	return v.send(ctx, &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1), alone: true, committed: committed}, true)
}

func (v *Vault) enqueue(ctx context.Context, fn func(tx *sql.Tx) error, wait bool) error {
	return v.send(ctx, &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}, wait)
}

func (v *Vault) send(ctx context.Context, req *writeReq, wait bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := v.commits
	c.mu.RLock()
	if c.stopped {
		c.mu.RUnlock()
		return &trove.Error{Code: trove.EUNAVAILABLE, Reason: "closed", Message: "the vault is closed"}
	}
	if wait {
		// Waiting under the read lock is safe: the writer drains the queue
		// without taking the lock, so stop waits at most for this send.
		select {
		case c.queue <- req:
		case <-ctx.Done():
			c.mu.RUnlock()
			return ctx.Err()
		}
	} else {
		select {
		case c.queue <- req:
		default:
			c.mu.RUnlock()
			return &trove.Error{Code: trove.ETOOMANY, Reason: "write_queue_full", Message: "the vault's write queue is full; try again shortly"}
		}
	}
	c.mu.RUnlock()
	// The outcome is awaited even if ctx ends meanwhile: fn may already be
	// in a transaction that commits, and the caller must not believe
	// otherwise.
	return <-req.done
}

// writer is the writer goroutine: it batches queued writes until stopped,
// then finishes what is still queued.
func (v *Vault) writer() {
	c := v.commits
	defer close(c.exited)
	for {
		var first *writeReq
		select {
		case first = <-c.queue:
		case <-c.quit:
			// No write is enqueued after quit is closed (stop holds the
			// lock while closing it), so draining empties the queue.
			for {
				select {
				case r := <-c.queue:
					v.commit([]*writeReq{r})
				default:
					return
				}
			}
		}
		batch := []*writeReq{first}
	fill:
		for !first.alone && len(batch) < v.cfg.MaxBatch {
			select {
			case r := <-c.queue:
				if r.alone {
					v.commitBatch(batch)
					batch = []*writeReq{r}
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		v.commit(batch)
	}
}

// commit commits a batch, or a write that runs alone.
func (v *Vault) commit(batch []*writeReq) {
	if len(batch) == 1 && batch[0].alone {
		v.commitAlone(batch[0])
		return
	}
	v.commitBatch(batch)
}

// commitAlone runs one write in its own transaction, which it seals
// itself, and once that committed runs its committed function.
func (v *Vault) commitAlone(r *writeReq) {
	if err := r.ctx.Err(); err != nil {
		r.done <- err
		return
	}
	tx, err := v.db.BeginTx(context.Background(), nil)
	if err != nil {
		r.done <- unavailable(err)
		return
	}
	if err := runWrite(r.fn, tx); err != nil {
		tx.Rollback()
		r.done <- err
		return
	}
	// The commit and what it changes in memory happen as one for readers
	// that hold the key-swap lock.
	v.keySwap.Lock()
	if err := tx.Commit(); err != nil {
		v.keySwap.Unlock()
		r.done <- &commitFailedError{unavailable(fmt.Errorf("commit: %w", err))}
		return
	}
	if r.committed != nil {
		r.committed()
	}
	v.keySwap.Unlock()
	r.done <- nil
}

// commitBatch runs a batch in one transaction and answers every caller.
// If the transaction itself breaks (a savepoint cannot be rolled back or
// released, an I/O error aborts it) the writes already run get the
// storage error and the ones not yet run are retried in a new batch.
func (v *Vault) commitBatch(batch []*writeReq) {
	errs := make([]error, len(batch))
	ran := 0 // batch[:ran] have been run (or skipped) in tx
	fail := func(err error) {
		if ran == 0 {
			ran = len(batch) // nothing could run at all: no retry, so no loop
		}
		for i := range batch[:ran] {
			if errs[i] == nil {
				errs[i] = batchError(err)
			}
			batch[i].done <- errs[i]
		}
		if ran < len(batch) {
			v.commitBatch(batch[ran:])
		}
	}
	tx, err := v.db.BeginTx(context.Background(), nil)
	if err != nil {
		// Nothing ran: every write gets the error.
		for _, r := range batch {
			r.done <- unavailable(err)
		}
		return
	}
	for i, r := range batch {
		ran = i + 1
		if err := r.ctx.Err(); err != nil {
			errs[i] = err // the caller is gone: its write is not run
			continue
		}
		if _, err := tx.Exec(`SAVEPOINT w`); err != nil {
			tx.Rollback()
			ran = i // not run: retried
			fail(err)
			return
		}
		if errs[i] = runWrite(r.fn, tx); errs[i] != nil {
			if _, err := tx.Exec(`ROLLBACK TO w`); err != nil {
				tx.Rollback()
				fail(fmt.Errorf("roll back a failed write: %w", err))
				return
			}
		}
		if _, err := tx.Exec(`RELEASE w`); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("release a write's savepoint: %w", err))
			return
		}
	}
	// One signed checkpoint for the state the batch leaves the log in. If
	// it cannot be made, nothing of the batch commits: a log state
	// without its checkpoint is never published.
	if err := v.sealLog(context.Background(), tx); err != nil {
		tx.Rollback()
		ran = len(batch)
		fail(fmt.Errorf("seal the log: %w", err))
		return
	}
	if err := tx.Commit(); err != nil {
		ran = len(batch)
		fail(fmt.Errorf("commit: %w", err))
		return
	}
	for i, r := range batch {
		r.done <- errs[i]
	}
}

// runWrite runs fn, turning a panic into an error so that one bad write
// cannot take the writer, and with it every other write, down.
func runWrite(fn func(tx *sql.Tx) error, tx *sql.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &trove.Error{Code: trove.EINTERNAL, Reason: "panic", Message: "internal error", Err: fmt.Errorf("write panicked: %v", p)}
		}
	}()
	return fn(tx)
}

// writeOne runs fn in a transaction of its own, signs the log's
// checkpoint and commits: one fsync per write. It is what write did
// before group commit, kept as the baseline of BenchmarkAppendDurable.
func (v *Vault) writeOne(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := v.db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable(err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := v.sealLog(ctx, tx); err != nil {
		return batchError(err)
	}
	if err := tx.Commit(); err != nil {
		return unavailable(err)
	}
	return nil
}

// batchError is what the writes of a batch that cannot commit get: a
// refusal that already says why the vault is unavailable (key_rotated)
// as it is, any other failure as a storage error.
func batchError(err error) error {
	var te *trove.Error
	if errors.As(err, &te) && te.Code == trove.EUNAVAILABLE {
		return err
	}
	return unavailable(err)
}
