package compute

import (
	"errors"
	"fmt"
)

// Errors a caller branches on to give a job its status. Match them with
// errors.Is; the error text adds what was being done.
var (
	// ErrInvalidModule: the module is too large, is not WebAssembly, is not
	// a WASI preview 1 command or imports something it may not.
	ErrInvalidModule = errors.New("invalid module")
	// ErrTimeout: the job ran past its deadline and was stopped.
	ErrTimeout = errors.New("job timed out")
	// ErrOutputTooLarge: the module wrote more than the output cap and was
	// stopped.
	ErrOutputTooLarge = errors.New("output too large")
	// ErrModuleExit: the module exited with a non-zero code. The error is
	// an *ExitError, which holds the code.
	ErrModuleExit = errors.New("module exited with an error")
	// ErrTrap: the module trapped (an unreachable instruction, an
	// out-of-bounds access, a stack overflow...).
	ErrTrap = errors.New("module trapped")
	// ErrBadOutput: the module finished but its output is not exactly one
	// JSON document.
	ErrBadOutput = errors.New("output is not one JSON document")
	// ErrBadInput: the job's input cannot be framed (a column of the wrong
	// length, an unknown kind, params that are not JSON).
	ErrBadInput = errors.New("bad job input")
	// ErrBusy: the job queue is full; the job may be sent again later.
	ErrBusy = errors.New("too many jobs running or waiting")
	// ErrUnknownBuiltin: no built-in algorithm has that id.
	ErrUnknownBuiltin = errors.New("unknown built-in algorithm")
)

// ExitError reports that a module exited with a non-zero code. It matches
// ErrModuleExit under errors.Is.
type ExitError struct {
	Code uint32
}

// Error says which code the module exited with.
func (e *ExitError) Error() string {
	return fmt.Sprintf("module exited with code %d", e.Code)
}

// Is makes errors.Is(err, ErrModuleExit) true.
func (e *ExitError) Is(target error) bool { return target == ErrModuleExit }
