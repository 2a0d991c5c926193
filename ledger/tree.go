package ledger

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// HashSize is the size in bytes of every hash in the log: leaf hashes,
// node hashes, roots and proof elements (SHA-256).
const HashSize = sha256.Size

// LeafHash returns the RFC 6962 leaf hash of a log entry's bytes:
// SHA-256(0x00 || entry).
func LeafHash(entry []byte) []byte {
	return rfc6962.DefaultHasher.HashLeaf(entry)
}

// newRanges returns a compact range factory over RFC 6962 node hashing.
// Each Tree and each proof computation has its own, so there is no
// package-level state.
func newRanges() *compact.RangeFactory {
	return &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
}

// Tree is the state of a log's Merkle tree as a compact range: the roots
// of the perfect subtrees covering leaves [0, Size()), at most one per
// level. It is what the vault persists beside its leaves so that it can
// append and compute the root without reading the leaves again.
//
// A Tree is not safe for concurrent use; the vault serializes appends.
type Tree struct {
	rng *compact.Range
}

// NewTree returns an empty tree.
func NewTree() *Tree {
	return &Tree{rng: newRanges().NewEmptyRange(0)}
}

// RestoreTree returns the tree of the given size whose compact range is
// hashes, as returned by Hashes. It refuses a hash count that does not
// fit size, or hashes of the wrong length, with ErrMalformed.
func RestoreTree(size uint64, hashes [][]byte) (*Tree, error) {
	own := make([][]byte, len(hashes))
	for i, h := range hashes {
		if len(h) != HashSize {
			return nil, fmt.Errorf("restore tree of size %d: hash %d has %d bytes: %w", size, i, len(h), ErrMalformed)
		}
		own[i] = bytes.Clone(h)
	}
	rng, err := newRanges().NewRange(0, size, own)
	if err != nil {
		return nil, fmt.Errorf("restore tree of size %d: %w: %w", size, ErrMalformed, err)
	}
	return &Tree{rng: rng}, nil
}

// Append adds a leaf hash to the tree and returns its index.
func (t *Tree) Append(leafHash []byte) (index uint64, err error) {
	return t.AppendVisit(leafHash, nil)
}

// NodeVisitor is told of each node of the tree an append completes: the
// leaf itself (level 0) and every perfect subtree it closes, by level and
// index within the level. Node (level, index) covers leaves
// [index<<level, (index+1)<<level).
type NodeVisitor func(level uint, index uint64, hash []byte)

// AppendVisit is Append, telling visit (if not nil) of every node the
// append completes, so that a store can keep them for proofs.
func (t *Tree) AppendVisit(leafHash []byte, visit NodeVisitor) (index uint64, err error) {
	if len(leafHash) != HashSize {
		return 0, fmt.Errorf("append leaf: hash has %d bytes, want %d: %w", len(leafHash), HashSize, ErrMalformed)
	}
	index = t.rng.End()
	if index == math.MaxUint64 {
		return 0, fmt.Errorf("append leaf: tree is full: %w", ErrOutOfRange)
	}
	var fn compact.VisitFn
	if visit != nil {
		fn = func(id compact.NodeID, hash []byte) { visit(id.Level, id.Index, bytes.Clone(hash)) }
	}
	if err := t.rng.Append(bytes.Clone(leafHash), fn); err != nil {
		return 0, fmt.Errorf("append leaf %d: %w", index, err)
	}
	return index, nil
}

// Size returns the number of leaves in the tree.
func (t *Tree) Size() uint64 { return t.rng.End() }

// Root returns the tree's root hash. The root of the empty tree is
// SHA-256 of the empty string, as RFC 6962 defines it.
func (t *Tree) Root() ([]byte, error) {
	if t.rng.End() == 0 {
		return rfc6962.DefaultHasher.EmptyRoot(), nil
	}
	root, err := t.rng.GetRootHash(nil)
	if err != nil {
		return nil, fmt.Errorf("tree root at size %d: %w", t.rng.End(), err)
	}
	return root, nil
}

// Hashes returns a copy of the tree's compact range, left to right: what
// the vault persists to RestoreTree later.
func (t *Tree) Hashes() [][]byte {
	hs := t.rng.Hashes()
	out := make([][]byte, len(hs))
	for i, h := range hs {
		out[i] = bytes.Clone(h)
	}
	return out
}
