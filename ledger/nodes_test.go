package ledger_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/trove-project/trove/ledger"
)

// memoryNodes is a NodeReader holding the nodes AppendVisit reported; it
// refuses to read leaves in bulk, so a proof built through it must come
// from the stored nodes alone.
type memoryNodes struct {
	nodes map[[2]uint64][]byte
}

func (m memoryNodes) LeafHashes(ctx context.Context, start, end uint64) ([][]byte, error) {
	return nil, ledger.ErrOutOfRange
}

func (m memoryNodes) NodeHash(ctx context.Context, level uint, index uint64) ([]byte, bool, error) {
	h, ok := m.nodes[[2]uint64{uint64(level), index}]
	return h, ok, nil
}

// Proofs built from the nodes AppendVisit reports equal proofs built from
// the leaves, and need no leaf read.
func TestProofsFromStoredNodes(t *testing.T) {
	ctx := context.Background()
	const max = 45
	all := leaves(max)
	m := memoryNodes{nodes: map[[2]uint64][]byte{}}
	tree := ledger.NewTree()
	for size := 1; size <= max; size++ {
		if _, err := tree.AppendVisit(all[size-1], func(level uint, index uint64, hash []byte) {
			m.nodes[[2]uint64{uint64(level), index}] = hash
		}); err != nil {
			t.Fatal(err)
		}
		for i := range size {
			want, err := ledger.InclusionProof(ctx, all, uint64(i), uint64(size))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ledger.InclusionProof(ctx, m, uint64(i), uint64(size))
			if err != nil {
				t.Fatalf("inclusion of %d in %d from nodes: %v", i, size, err)
			}
			if !equalProofs(got, want) {
				t.Fatalf("inclusion of %d in %d: nodes and leaves disagree", i, size)
			}
		}
		for from := 1; from <= size; from++ {
			want, err := ledger.ConsistencyProof(ctx, all, uint64(from), uint64(size))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ledger.ConsistencyProof(ctx, m, uint64(from), uint64(size))
			if err != nil {
				t.Fatalf("consistency %d→%d from nodes: %v", from, size, err)
			}
			if !equalProofs(got, want) {
				t.Fatalf("consistency %d→%d: nodes and leaves disagree", from, size)
			}
		}
	}
	// A wrong-length stored node is refused, not used.
	for k := range m.nodes {
		m.nodes[k] = []byte{1}
	}
	if _, err := ledger.InclusionProof(ctx, m, 0, max); err == nil {
		t.Fatal("proof built from malformed nodes")
	}
}

func equalProofs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
