// Package compute runs a visiting algorithm over a table: a WebAssembly
// module in a wazero sandbox, or a built-in algorithm written in Go.
//
// A Sandbox holds one wazero runtime for the life of the process and caches
// compiled modules by their sha256, so a job costs one instantiation, not a
// compilation. Each job runs with no filesystem, no environment, no network,
// fake clocks, randomness seeded from the job id (so a run can be replayed
// and audited), a memory cap, a deadline and capped output. Close-on-context-
// done stays on: it is the only thing that stops a module that spins.
//
// The table reaches the module on stdin as a frame (see EncodeFrame for the
// layout) and the module answers with one JSON document on stdout. Errors
// carry what a caller branches on (ErrTimeout, ErrOutputTooLarge,
// ErrModuleExit, ErrInvalidModule, ErrBadOutput, ...) and never a data value.
package compute
