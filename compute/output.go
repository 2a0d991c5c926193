package compute

import "errors"

// errOutputCap is what a module sees (as EIO) when it writes past its cap.
var errOutputCap = errors.New("output cap reached")

// cappedWriter collects a module's stdout. A write that would take it past
// max is refused, marks the job as over its output cap and stops the job
// by cancelling its context (close-on-context-done then closes the module).
type cappedWriter struct {
	buf    []byte
	max    int
	over   bool
	cancel func()
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	if w.over || len(p) > w.max-len(w.buf) {
		w.over = true
		w.cancel()
		return 0, errOutputCap
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// headWriter keeps the first max bytes written to it. Past them, writes
// fail (the module sees EIO) but the job goes on: stderr is for the owner's
// curiosity, not part of the result.
type headWriter struct {
	buf []byte
	max int
}

func (w *headWriter) Write(p []byte) (int, error) {
	room := w.max - len(w.buf)
	if len(p) <= room {
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	w.buf = append(w.buf, p[:room]...)
	return room, errOutputCap
}
