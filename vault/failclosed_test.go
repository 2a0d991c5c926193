package vault_test

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/requester"
	"github.com/trove-project/trove/vault"
)

// failReleaseDriver is go-sqlite3 with a commit hook that turns into a
// rollback every commit of a transaction that inserted a claim — the
// transaction that releases a result with its receipt. SQLite then fails
// the COMMIT (SQLITE_CONSTRAINT_COMMITHOOK), as it would on a full disk
// or an I/O error: a real storage failure at the one point that matters,
// with the vault's code unchanged.
const failReleaseDriver = "sqlite3_fail_release"

func init() {
	sql.Register(failReleaseDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		claimed := false // per connection; SQLite calls the hooks on the connection's own thread
		c.RegisterUpdateHook(func(op int, _, table string, _ int64) {
			if op == sqlite3.SQLITE_INSERT && table == "claims" {
				claimed = true
			}
		})
		c.RegisterRollbackHook(func() { claimed = false })
		c.RegisterCommitHook(func() int {
			if claimed {
				claimed = false
				return 1 // non-zero: the commit becomes a rollback
			}
			return 0
		})
		return nil
	}})
}

// world is a vault served over HTTP with a dataset, and a requester
// holding a consent credential for builtin:stats@1 on it.
type world struct {
	ctx        context.Context
	vault      *vault.Vault
	client     *api.Client
	requester  *requester.Requester
	credential string
}

// serveVault serves v's public API on 127.0.0.1:0 until the test ends
// and returns a client for it.
func serveVault(t *testing.T, v *vault.Vault) *api.Client {
	t.Helper()
	srv := api.NewServer(v, "127.0.0.1:0", nil)
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	client, err := api.NewClient(srv.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func newWorld(t *testing.T, cfg vault.Config) *world {
	t.Helper()
	ctx := context.Background()
	v := MustCreate(t, cfg)
	if _, err := v.Import(ctx, "d", bytes.NewReader([]byte("x,y\n1,2\n3,5\n8,13\n")), vault.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	client := serveVault(t, v)
	r, err := requester.Init(filepath.Join(t.TempDir(), "r"), []byte("p"), requester.Options{WorkFactor: testWorkFactor})
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.RequestConsent(ctx, client, requester.Ask{Dataset: "d", Algorithm: "builtin:stats@1", Purpose: "research",
		PurposeCode: consent.PurposeResearch, Output: consent.OutputPolicy{Policy: consent.OutputRelease}, Per: consent.PerRun, MaxRuns: 1000, Price: consent.Money{Amount: 7, Currency: "EUR"}, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Approve(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	if st, _, err = r.RequestStatus(ctx, client, st.ID); err != nil {
		t.Fatal(err)
	}
	return &world{ctx: ctx, vault: v, client: client, requester: r, credential: st.Credential}
}

// If the transaction that logs a result's release cannot commit, the job
// is marked failed, its output is discarded, and nothing leaves: no
// result, no receipt, no claim, no release entry in the log.
func TestFailedAppendWithholdsResult(t *testing.T) {
	w := newWorld(t, vault.Config{SQLDriver: failReleaseDriver})
	before, err := w.vault.LogSize(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	run, err := w.requester.RunJob(w.ctx, w.client, w.credential, nil, nil)
	if trove.ErrorCode(err) != trove.EUNAVAILABLE || run != nil {
		t.Fatalf("job whose release cannot be logged: %+v, %v; want no run and unavailable", run, err)
	}

	// The job is failed, with nothing of its output kept.
	n, err := w.vault.LogSize(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var jobID string
	var sawRelease bool
	for i := before; i < n; i++ {
		b, err := w.vault.LogEntry(w.ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		e, err := ledger.ParseEntry(b)
		if err != nil {
			t.Fatal(err)
		}
		switch e.Type {
		case ledger.JobAccepted:
			jobID = e.Fields["job_id"]
		case ledger.RunFinished:
			if e.Fields["status"] != "failed" || e.Fields["reason"] != "log_append_failed" {
				t.Errorf("run finished entry %v; want failed, log_append_failed", e.Fields)
			}
		default:
			sawRelease = true
			t.Errorf("unexpected entry %s after the failed append", e.Type)
		}
	}
	if jobID == "" || sawRelease {
		t.Fatalf("log after the failed append: job %q", jobID)
	}
	j, err := w.vault.Job(w.ctx, jobID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != vault.JobFailed || j.Reason != "log_append_failed" || j.Result != nil || j.Receipt != nil || j.Claim != nil || j.OutputSHA256 != "" {
		t.Fatalf("job after the failed append: %+v", j)
	}
	claims, err := w.vault.Claims(w.ctx)
	if err != nil || len(claims) != 0 {
		t.Fatalf("claims after the failed append: %v, %v", claims, err)
	}
	if _, err := w.vault.VerifyLog(w.ctx); err != nil {
		t.Fatalf("log after the failed append: %v", err)
	}
}
