package ledger

import (
	"bytes"
	"context"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	tproof "github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// HashReader reads the log's leaf hashes; the vault implements it over its
// database. LeafHashes returns the hashes of leaves [start, end), in
// order, exactly end-start of them, or an error if any is missing.
type HashReader interface {
	LeafHashes(ctx context.Context, start, end uint64) ([][]byte, error)
}

// NodeReader is a HashReader that may also hold interior nodes: NodeHash
// returns the hash of the perfect subtree at (level, index), or ok=false
// if it does not hold it (the proof builder then hashes its leaves).
// The vault implements it over its stored nodes, making a proof
// O(log n) reads instead of O(n).
type NodeReader interface {
	HashReader
	NodeHash(ctx context.Context, level uint, index uint64) (hash []byte, ok bool, err error)
}

// MemoryHashes is a HashReader over leaf hashes held in memory, leaf i at
// index i. It is for tests, in this package and in others.
type MemoryHashes [][]byte

// LeafHashes returns the hashes of leaves [start, end).
func (m MemoryHashes) LeafHashes(ctx context.Context, start, end uint64) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if start > end || end > uint64(len(m)) {
		return nil, fmt.Errorf("leaf hashes [%d, %d) of %d: %w", start, end, len(m), ErrOutOfRange)
	}
	return m[start:end], nil
}

// InclusionProof returns the RFC 6962 inclusion proof of leaf index in the
// tree of the given size, reading leaf hashes from r. It needs
// index < size, else ErrOutOfRange.
func InclusionProof(ctx context.Context, r HashReader, index, size uint64) ([][]byte, error) {
	if index >= size {
		return nil, fmt.Errorf("inclusion proof of leaf %d in tree of size %d: %w", index, size, ErrOutOfRange)
	}
	nodes, err := tproof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof of leaf %d in tree of size %d: %w", index, size, err)
	}
	p, err := buildProof(ctx, r, nodes)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof of leaf %d in tree of size %d: %w", index, size, err)
	}
	return p, nil
}

// ConsistencyProof returns the RFC 6962 consistency proof between the
// trees of size1 and size2 leaves, reading leaf hashes from r. It needs
// size1 <= size2, else ErrOutOfRange. The proof is empty when size1 is 0
// or equals size2.
func ConsistencyProof(ctx context.Context, r HashReader, size1, size2 uint64) ([][]byte, error) {
	if size1 > size2 {
		return nil, fmt.Errorf("consistency proof from size %d to %d: %w", size1, size2, ErrOutOfRange)
	}
	nodes, err := tproof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("consistency proof from size %d to %d: %w", size1, size2, err)
	}
	p, err := buildProof(ctx, r, nodes)
	if err != nil {
		return nil, fmt.Errorf("consistency proof from size %d to %d: %w", size1, size2, err)
	}
	return p, nil
}

// buildProof computes the hash of every node the proof needs from the
// leaves it covers, then folds the ephemeral node as the proof package
// prescribes. The nodes cover disjoint leaf ranges, so this reads each
// leaf at most once: O(size) from leaves alone, O(log size) from a
// NodeReader that holds the interior nodes.
func buildProof(ctx context.Context, r HashReader, nodes tproof.Nodes) ([][]byte, error) {
	ranges := newRanges()
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		h, err := nodeHash(ctx, r, ranges, id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	p, err := nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// nodeHash returns the hash of the perfect subtree id: from r if r is a
// NodeReader holding it, else by appending its leaves to a compact range
// starting where the subtree starts: the range then holds exactly one
// hash, the subtree's.
func nodeHash(ctx context.Context, r HashReader, ranges *compact.RangeFactory, id compact.NodeID) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if nr, ok := r.(NodeReader); ok {
		h, found, err := nr.NodeHash(ctx, id.Level, id.Index)
		if err != nil {
			return nil, fmt.Errorf("read node %d/%d: %w", id.Level, id.Index, err)
		}
		if found {
			if len(h) != HashSize {
				return nil, fmt.Errorf("node %d/%d: hash has %d bytes: %w", id.Level, id.Index, len(h), ErrMalformed)
			}
			return h, nil
		}
	}
	begin, end := id.Coverage()
	leaves, err := r.LeafHashes(ctx, begin, end)
	if err != nil {
		return nil, fmt.Errorf("read leaves [%d, %d): %w", begin, end, err)
	}
	if uint64(len(leaves)) != end-begin {
		return nil, fmt.Errorf("read leaves [%d, %d): got %d hashes", begin, end, len(leaves))
	}
	rng := ranges.NewEmptyRange(begin)
	for i, l := range leaves {
		if len(l) != HashSize {
			return nil, fmt.Errorf("leaf %d: hash has %d bytes: %w", begin+uint64(i), len(l), ErrMalformed)
		}
		if err := rng.Append(l, nil); err != nil {
			return nil, fmt.Errorf("leaf %d: %w", begin+uint64(i), err)
		}
	}
	hs := rng.Hashes()
	if len(hs) != 1 {
		return nil, fmt.Errorf("node %d/%d: %d subtree hashes, want 1", id.Level, id.Index, len(hs))
	}
	return bytes.Clone(hs[0]), nil
}

// VerifyInclusion checks that proof proves the leaf with hash leafHash is
// at index in the tree of the given size and root. A proof that does not
// is refused with ErrNotIncluded; hashes of the wrong length with
// ErrMalformed.
func VerifyInclusion(leafHash []byte, index, size uint64, proof [][]byte, root []byte) error {
	if err := checkHashLengths(leafHash, root, proof); err != nil {
		return fmt.Errorf("verify inclusion of leaf %d in tree of size %d: %w", index, size, err)
	}
	if index >= size {
		return fmt.Errorf("verify inclusion of leaf %d in tree of size %d: %w", index, size, ErrNotIncluded)
	}
	if err := tproof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leafHash, proof, root); err != nil {
		return fmt.Errorf("verify inclusion of leaf %d in tree of size %d: %w: %w", index, size, ErrNotIncluded, err)
	}
	return nil
}

// VerifyConsistency checks that proof proves the tree of size2 leaves and
// root2 extends the tree of size1 leaves and root1. A proof that does not
// is refused with ErrInconsistent; hashes of the wrong length with
// ErrMalformed.
func VerifyConsistency(size1, size2 uint64, proof [][]byte, root1, root2 []byte) error {
	if err := checkHashLengths(root1, root2, proof); err != nil {
		return fmt.Errorf("verify consistency from size %d to %d: %w", size1, size2, err)
	}
	if size1 > size2 {
		return fmt.Errorf("verify consistency from size %d to %d: %w", size1, size2, ErrInconsistent)
	}
	if err := tproof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, proof, root1, root2); err != nil {
		return fmt.Errorf("verify consistency from size %d to %d: %w: %w", size1, size2, ErrInconsistent, err)
	}
	return nil
}

// maxProofLen bounds a proof: in a tree of fewer than 2^64 leaves an
// inclusion proof has at most 64 hashes, a consistency proof one more.
const maxProofLen = 65

func checkHashLengths(a, b []byte, proof [][]byte) error {
	if len(a) != HashSize || len(b) != HashSize {
		return fmt.Errorf("hash is not %d bytes: %w", HashSize, ErrMalformed)
	}
	if len(proof) > maxProofLen {
		return fmt.Errorf("proof has %d hashes, at most %d: %w", len(proof), maxProofLen, ErrMalformed)
	}
	for i, h := range proof {
		if len(h) != HashSize {
			return fmt.Errorf("proof hash %d is %d bytes: %w", i, len(h), ErrMalformed)
		}
	}
	return nil
}
