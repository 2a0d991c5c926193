package vault

import (
	"context"
	"fmt"
	"testing"

	"github.com/trove-project/trove/ledger"
)

// countingReader counts the leaves read in bulk through it.
type countingReader struct {
	leafReader
	leaves *int
}

func (c countingReader) LeafHashes(ctx context.Context, start, end uint64) ([][]byte, error) {
	*c.leaves += int(end - start)
	return c.leafReader.LeafHashes(ctx, start, end)
}

// Proofs over the stored interior nodes read no leaves in bulk and agree
// with proofs from the leaves; a tampered stored node fails VerifyLog.
func TestProofsUseStoredNodes(t *testing.T) {
	v := createForTest(t, Config{})
	ctx := context.Background()
	const n = 300
	for i := range n {
		if err := v.logOnly(ctx, ledger.Entry{Type: ledger.JobRejected, Time: v.now(), Fields: map[string]string{"i": fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	leaves := 0
	r := countingReader{leafReader{v.db}, &leaves}
	all, err := leafReader{v.db}.LeafHashes(ctx, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []uint64{1, 2, 7, 64, 129, 299, n} {
		for _, idx := range []uint64{0, size / 2, size - 1} {
			got, err := ledger.InclusionProof(ctx, r, idx, size)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ledger.InclusionProof(ctx, ledger.MemoryHashes(all), idx, size)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("inclusion of %d in %d differs from the leaves'", idx, size)
			}
		}
		if _, err := ledger.ConsistencyProof(ctx, r, size/2+1, n); err != nil {
			t.Fatal(err)
		}
	}
	if leaves != 0 {
		t.Fatalf("proofs read %d leaves in bulk, want 0", leaves)
	}
	if _, err := v.VerifyLog(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := v.db.ExecContext(ctx, `UPDATE log_nodes SET hash = zeroblob(32) WHERE level = 3 AND idx = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyLog(ctx); err == nil {
		t.Fatal("VerifyLog passed over a tampered interior node")
	}
}
