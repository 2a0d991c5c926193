package compute

import (
	"context"
	"fmt"
)

// Queue bounds how many jobs run at once and how many wait for their turn.
// A job that finds the waiting room full is refused with ErrBusy at once,
// so a flood of jobs costs the host nothing but the refusals. It is safe
// for concurrent use.
type Queue struct {
	running chan struct{} // one token per running job
	waiting chan struct{} // one token per job that waits or runs
}

// NewQueue returns a queue that lets running jobs run at once and waiting
// more wait. running must be positive; waiting may be zero.
func NewQueue(running, waiting int) (*Queue, error) {
	if running <= 0 || waiting < 0 {
		return nil, fmt.Errorf("new job queue: %d running, %d waiting: want running > 0 and waiting >= 0", running, waiting)
	}
	return &Queue{running: make(chan struct{}, running), waiting: make(chan struct{}, running+waiting)}, nil
}

// Enter waits for the job's turn and returns the function that ends it.
// It returns ErrBusy when the queue is full and ctx's error when ctx ends
// first.
func (q *Queue) Enter(ctx context.Context) (leave func(), err error) {
	select {
	case q.waiting <- struct{}{}:
	default:
		return nil, ErrBusy
	}
	select {
	case q.running <- struct{}{}:
	case <-ctx.Done():
		<-q.waiting
		return nil, fmt.Errorf("wait for a job slot: %w", ctx.Err())
	}
	return func() { <-q.running; <-q.waiting }, nil
}

// Len returns how many jobs run and how many wait for their turn now.
func (q *Queue) Len() (running, waiting int) {
	r, all := len(q.running), len(q.waiting)
	return r, max(all-r, 0)
}
