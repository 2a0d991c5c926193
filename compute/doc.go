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
// Linear memories come from a pool of buffers as large as the memory cap
// (growing reslices instead of copying), so host memory stays near the cap
// for a module that grows step by step. A Queue bounds the jobs that run
// and wait at once; past it a job gets ErrBusy.
//
// The built-in algorithms (builtin:stats@1, builtin:histogram@1,
// builtin:linreg@1, builtin:logreg-train@1) run natively. Under an
// OutputPolicy of kind PolicyDP, RunBuiltinDP releases only their
// differentially private form (Laplace or Gaussian noise calibrated to
// declared bounds; DP-SGD with one row as the privacy unit for training), and
// OutputPolicy.Rho, RhoFor and EpsilonOf do the zCDP accounting.
//
// The table reaches the module on stdin as a frame (see EncodeFrame for the
// layout) and the module answers with one JSON document on stdout. Errors
// carry what a caller branches on (ErrTimeout, ErrOutputTooLarge,
// ErrModuleExit, ErrInvalidModule, ErrBadOutput, ErrBadParams, ErrPolicy,
// ErrBusy, ...) and never a data value. docs/abi.md documents the ABI.
package compute
