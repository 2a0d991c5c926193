package vault

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trove-project/trove/ledger"
)

// The append benchmarks live here, not in package ledger: ledger is pure
// tree math and formats, and what they measure — a log entry durable on
// disk — is the vault's SQLite storage.

// appendWriters is how many goroutines append at once.
const appendWriters = 16

// zeros64 stands in for a sha256 hex digest.
const zeros64 = "0000000000000000000000000000000000000000000000000000000000000000"

// benchAppend has appendWriters goroutines append b.N receipts between
// them, each append durable (committed, synchronous=FULL) before its
// call returns, through write, and reports receipts/s.
func benchAppend(b *testing.B, write func(ctx context.Context, fn func(tx *sql.Tx) error) error, v *Vault) float64 {
	ctx := context.Background()
	b.ReportAllocs()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range appendWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				rc := ledger.ReceiptClaims{ID: fmt.Sprintf("rcpt_%d_%d", w, i), JobID: fmt.Sprintf("job_%d", i), ConsentID: "urn:uuid:c",
					Requester: v.DID(), Vault: v.DID(), DatasetDigest: "sha256:" + zeros64, Algorithm: "builtin:stats@1",
					ParamsSHA256: zeros64, OutputSHA256: zeros64, IssuedAt: v.now().Truncate(time.Second)}
				err := write(ctx, func(tx *sql.Tx) error {
					a, err := v.appendLog(ctx, tx, ledger.ReceiptEntry(rc))
					if err != nil {
						return err
					}
					rc.LogIndex, rc.LeafHash = a.First, hex.EncodeToString(a.LeafHashes[0])
					_, err = ledger.IssueReceipt(v.signer(), rc)
					return err
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	perSec := float64(b.N) / time.Since(start).Seconds()
	b.ReportMetric(perSec, "receipts/s")
	return perSec
}

// oneTxEach is the baseline writer: a transaction and an fsync per
// append, serialized in the process (the best a transaction per append
// can do; leaving it to SQLite's busy handler is slower still).
func oneTxEach(v *Vault) func(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var mu sync.Mutex
	return func(ctx context.Context, fn func(tx *sql.Tx) error) error {
		mu.Lock()
		defer mu.Unlock()
		return v.writeOne(ctx, fn)
	}
}

func benchVault(b *testing.B) *Vault {
	cfg := Config{Home: b.TempDir(), WorkFactor: 10}
	v, err := Create(context.Background(), cfg, []byte("p"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { v.Close() })
	return v
}

// BenchmarkAppendOneTxEach appends receipts from 16 writers, one
// transaction and fsync per append.
func BenchmarkAppendOneTxEach(b *testing.B) {
	v := benchVault(b)
	benchAppend(b, oneTxEach(v), v)
}

// BenchmarkAppendDurable appends receipts from 16 writers through group
// commit, each durable before it returns, and reports receipts/s and the
// ratio to the one-transaction-per-append baseline run first in the same
// run (goal ≥ 5,000 receipts/s).
func BenchmarkAppendDurable(b *testing.B) {
	var baseline float64
	b.Run("baseline=OneTxEach", func(b *testing.B) {
		v := benchVault(b)
		baseline = benchAppend(b, oneTxEach(v), v)
	})
	b.Run("group", func(b *testing.B) {
		v := benchVault(b)
		perSec := benchAppend(b, v.write, v)
		if baseline > 0 {
			b.ReportMetric(perSec/baseline, "x-baseline")
		}
	})
}
