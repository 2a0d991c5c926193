package sqlitetest

import (
	"database/sql"
	"sync/atomic"
	"testing"

	"github.com/mattn/go-sqlite3"
)

// FailingDriver registers, for the test tb, go-sqlite3 with a commit hook
// that turns every commit into a rollback while fail is set, and returns
// the driver's name (for a database/sql driver setting). A name is
// registered once per test.
func FailingDriver(tb testing.TB, fail *atomic.Bool) string {
	tb.Helper()
	name := "sqlite3_failing_" + tb.Name()
	sql.Register(name, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		c.RegisterCommitHook(func() int {
			if fail.Load() {
				return 1
			}
			return 0
		})
		return nil
	}})
	return name
}

// Rows counts the rows of table in the SQLite database file at path,
// opened read-only, as anyone with the file could.
func Rows(tb testing.TB, path, table string) int {
	tb.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}
