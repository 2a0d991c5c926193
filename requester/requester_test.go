package requester_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/requester"
	"github.com/trove-project/trove/vault"
)

func TestInitAndOpen(t *testing.T) {
	home := filepath.Join(t.TempDir(), "r")
	r, err := requester.Init(home, []byte("p"), requester.Options{WorkFactor: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := requester.Init(home, []byte("p"), requester.Options{WorkFactor: 10}); trove.ErrorCode(err) != trove.ECONFLICT {
		t.Fatalf("second init: %v", err)
	}
	r2, err := requester.Open(home, []byte("p"), requester.Options{})
	if err != nil || r2.DID() != r.DID() {
		t.Fatalf("reopen: %v", err)
	}
	if _, err := requester.Open(home, []byte("q"), requester.Options{}); trove.ErrorCode(err) != trove.EUNAUTHORIZED {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := requester.Open(t.TempDir(), []byte("p"), requester.Options{}); trove.ErrorCode(err) != trove.ENOTFOUND {
		t.Fatalf("empty home: %v", err)
	}
	if _, err := r.Request("../../etc/passwd"); trove.ErrorCode(err) != trove.EINVALID {
		t.Fatalf("path-like request id: %v", err)
	}
}

// A vault that rewrites its log after the requester kept a checkpoint is
// caught on the next job: the database is altered under the running vault.
func TestRewrittenLogIsDetected(t *testing.T) {
	ctx := context.Background()
	s := newServed(t)
	v, home, client, r, credential := s.vault, s.home, s.client, s.req, s.credential
	if _, err := r.RunJob(ctx, client, credential, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.RunJob(ctx, client, credential, nil, nil); err != nil {
		t.Fatalf("a second honest run: %v", err)
	}

	// Rewrite history: change the first entry's leaf hash, as a vault
	// hiding the import it logged would, and drop the stored interior
	// nodes so that proofs are computed from the rewritten leaves.
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(home, vault.DatabaseFile)+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `UPDATE log_entries SET leaf_hash = zeroblob(32) WHERE idx = 0`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM log_nodes`); err != nil {
		t.Fatal(err)
	}
	_, err = r.RunJob(ctx, client, credential, nil, nil)
	if reason := trove.ErrorReason(err); reason != "log_rewritten" && reason != "bad_receipt" {
		t.Fatalf("run after the rewrite: %v; want the rewrite detected", err)
	}
	if _, err := v.VerifyLog(ctx); err == nil {
		t.Fatal("trove log verify passed over a rewritten entry")
	}
}

// A vault that forks its log — rewrites an old entry and re-signs a
// consistent-looking tree, so that every new receipt and checkpoint
// verifies on its own — is caught by the consistency check against the
// checkpoint the requester kept. The database is altered under the
// running vault, served over HTTP.
func TestForkedLogIsDetectedByConsistency(t *testing.T) {
	ctx := context.Background()
	s := newServed(t)
	v, home, client, r, credential := s.vault, s.home, s.client, s.req, s.credential
	if _, err := r.RunJob(ctx, client, credential, nil, nil); err != nil {
		t.Fatal(err)
	}

	// Fork: rewrite entry 0 (the import), recompute the tree state from
	// the altered leaves and drop the stored interior nodes, so the vault
	// goes on appending to, and signing, a tree that is well-formed but
	// does not extend the one it showed before.
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(home, vault.DatabaseFile)+"?_busy_timeout=5000&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var raw []byte
	if err := tx.QueryRowContext(ctx, `SELECT entry FROM log_entries WHERE idx = 0`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	e, err := ledger.ParseEntry(raw)
	if err != nil {
		t.Fatal(err)
	}
	e.Fields["name"] = "nothing-to-see"
	forged, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE log_entries SET entry = ?, leaf_hash = ? WHERE idx = 0`, forged, ledger.LeafHash(forged)); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT leaf_hash FROM log_entries ORDER BY idx`)
	if err != nil {
		t.Fatal(err)
	}
	tree := ledger.NewTree()
	for rows.Next() {
		var lh []byte
		if err := rows.Scan(&lh); err != nil {
			t.Fatal(err)
		}
		if _, err := tree.Append(lh); err != nil {
			t.Fatal(err)
		}
	}
	rows.Close()
	hashes, err := json.Marshal(tree.Hashes())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE log_state SET hashes = ? WHERE id = 1`, string(hashes)); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM log_nodes`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	run, err := r.RunJob(ctx, client, credential, nil, nil)
	if reason := trove.ErrorReason(err); reason != "log_rewritten" {
		t.Fatalf("run on the forked log: %v; want log_rewritten", err)
	}
	// The fork was caught by consistency alone: the new receipt, its
	// checkpoint and its inclusion proof verify on their own.
	if run == nil || run.Job == nil {
		t.Fatal("no job returned")
	}
	if _, _, err := ledger.VerifyReceipt(run.Job.Receipt, v.DID()); err != nil {
		t.Fatalf("the forked log's receipt should verify on its own: %v", err)
	}
}
