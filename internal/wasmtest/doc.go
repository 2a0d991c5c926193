// Package wasmtest builds WebAssembly modules for tests: Go programs built
// for wasip1, and tiny hand-assembled modules that no compiler emits (one
// that traps at once, one swollen by a custom section).
package wasmtest
