// Package examples holds example algorithms written with package guest and
// their committed WebAssembly builds, embedded so that the trove binary can
// offer them (trove demo runs ColStats).
//
// Each module is built reproducibly by go generate (same source and Go
// version, same bytes), and its sha256 is recorded beside it so that a
// requester can pin it in a consent. A test fails when a committed module
// no longer matches its source.
package examples
