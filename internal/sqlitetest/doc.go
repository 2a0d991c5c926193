// Package sqlitetest makes storage fail on demand for tests: a
// go-sqlite3 driver, registered under a name of its own, whose commit
// hook turns commits into rollbacks while a switch is on, so SQLite fails
// the COMMIT as it would on a full disk or an I/O error.
package sqlitetest
