package ledger

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// MaxProofSize bounds a proof file or an entry proof, in bytes: 65 hashes
// in base64 and an entry of MaxEntrySize fit with room to spare.
const MaxProofSize = 64 << 10

// Proof is an inclusion proof (Index in the tree of Size leaves) or a
// consistency proof (the tree of From leaves is a prefix of the tree of
// Size leaves), in the JSON form GET /v1/log/proof/inclusion and
// /v1/log/proof/consistency serve: {"index"|"from", "size", "hashes"},
// hashes in standard base64.
type Proof struct {
	Index  uint64
	From   uint64
	Size   uint64
	Hashes [][]byte
}

type proofJSON struct {
	Index  uint64   `json:"index,omitempty"`
	From   uint64   `json:"from,omitempty"`
	Size   uint64   `json:"size"`
	Hashes []string `json:"hashes"`
}

var proofKeys = []string{"index", "from", "size", "hashes"}

// MarshalJSON encodes the proof as the API serves it.
func (p Proof) MarshalJSON() ([]byte, error) {
	w := proofJSON{Index: p.Index, From: p.From, Size: p.Size, Hashes: make([]string, len(p.Hashes))}
	for i, h := range p.Hashes {
		w.Hashes[i] = base64.StdEncoding.EncodeToString(h)
	}
	return json.Marshal(w)
}

// ParseProof decodes a proof strictly: at most MaxProofSize bytes, known
// keys only, at most 65 hashes of HashSize bytes each.
func ParseProof(b []byte) (*Proof, error) {
	if len(b) > MaxProofSize {
		return nil, fmt.Errorf("parse proof: %d bytes, limit %d: %w", len(b), MaxProofSize, ErrTooLarge)
	}
	var w proofJSON
	if err := decodeStrict(b, &w, proofKeys...); err != nil {
		return nil, fmt.Errorf("parse proof: %w: %w", ErrMalformed, err)
	}
	if w.Hashes == nil {
		return nil, fmt.Errorf("parse proof: no hashes: %w", ErrMalformed)
	}
	if len(w.Hashes) > maxProofLen {
		return nil, fmt.Errorf("parse proof: %d hashes, at most %d: %w", len(w.Hashes), maxProofLen, ErrMalformed)
	}
	p := &Proof{Index: w.Index, From: w.From, Size: w.Size, Hashes: make([][]byte, len(w.Hashes))}
	for i, s := range w.Hashes {
		h, err := decodeBase64(base64.StdEncoding, s)
		if err != nil || len(h) != HashSize {
			return nil, fmt.Errorf("parse proof: hash %d is not %d bytes of base64: %w", i, HashSize, ErrMalformed)
		}
		p.Hashes[i] = h
	}
	return p, nil
}

// VerifyExtends checks, offline, that the signed checkpoint note later
// extends the checkpoint earlier of the same vault: later is signed by
// vaultDID, is no smaller, and proof (a consistency proof from
// earlier.Size to later's size) proves earlier's tree a prefix of
// later's. With equal sizes the roots must be equal and proof may be nil.
// It returns later's checkpoint.
func VerifyExtends(earlier *Checkpoint, later []byte, proof *Proof, vaultDID string) (*Checkpoint, error) {
	cp, err := OpenCheckpoint(later, vaultDID)
	if err != nil {
		return nil, fmt.Errorf("verify later checkpoint: %w", err)
	}
	if earlier.Origin != cp.Origin {
		return nil, fmt.Errorf("verify later checkpoint: origins %q and %q differ: %w", short(earlier.Origin), short(cp.Origin), ErrWrongVault)
	}
	switch {
	case cp.Size < earlier.Size:
		return nil, fmt.Errorf("verify later checkpoint: size %d is smaller than %d: %w", cp.Size, earlier.Size, ErrInconsistent)
	case cp.Size == earlier.Size:
		if string(cp.Root) != string(earlier.Root) {
			return nil, fmt.Errorf("verify later checkpoint: two roots for size %d: %w", cp.Size, ErrInconsistent)
		}
		return cp, nil
	}
	if proof == nil {
		return nil, fmt.Errorf("verify later checkpoint: a consistency proof from %d to %d is needed: %w", earlier.Size, cp.Size, ErrMalformed)
	}
	if proof.From != earlier.Size || proof.Size != cp.Size {
		return nil, fmt.Errorf("verify later checkpoint: the proof is from %d to %d, not %d to %d: %w", proof.From, proof.Size, earlier.Size, cp.Size, ErrMismatch)
	}
	if err := VerifyConsistency(earlier.Size, cp.Size, proof.Hashes, earlier.Root, cp.Root); err != nil {
		return nil, fmt.Errorf("verify later checkpoint: %w", err)
	}
	return cp, nil
}

// EntryProof is a log entry with the proof that it is in the tree of a
// signed checkpoint: what `trove log proof INDEX` prints, verifiable
// offline with the vault's DID alone, like a receipt without the receipt.
type EntryProof struct {
	Index          uint64
	Entry          []byte // the entry exactly as logged
	Checkpoint     string // the signed checkpoint note
	InclusionProof [][]byte
}

type entryProofJSON struct {
	Index          uint64   `json:"index"`
	Entry          string   `json:"entry"`
	Checkpoint     string   `json:"checkpoint"`
	InclusionProof []string `json:"inclusion_proof"`
}

var entryProofKeys = []string{"index", "entry", "checkpoint", "inclusion_proof"}

// MarshalJSON encodes the entry proof, binary fields in standard base64.
func (p EntryProof) MarshalJSON() ([]byte, error) {
	w := entryProofJSON{Index: p.Index, Entry: base64.StdEncoding.EncodeToString(p.Entry), Checkpoint: p.Checkpoint,
		InclusionProof: make([]string, len(p.InclusionProof))}
	for i, h := range p.InclusionProof {
		w.InclusionProof[i] = base64.StdEncoding.EncodeToString(h)
	}
	return json.Marshal(w)
}

// VerifyEntryProof parses an entry proof strictly (at most MaxProofSize
// bytes) and verifies it against vaultDID: the checkpoint's signature and
// the entry's inclusion in its tree. It returns the entry and the
// checkpoint.
func VerifyEntryProof(b []byte, vaultDID string) (*Entry, *Checkpoint, error) {
	if len(b) > MaxProofSize {
		return nil, nil, fmt.Errorf("verify entry proof: %d bytes, limit %d: %w", len(b), MaxProofSize, ErrTooLarge)
	}
	var w entryProofJSON
	if err := decodeStrict(b, &w, entryProofKeys...); err != nil {
		return nil, nil, fmt.Errorf("verify entry proof: %w: %w", ErrMalformed, err)
	}
	if w.InclusionProof == nil || len(w.InclusionProof) > maxProofLen {
		return nil, nil, fmt.Errorf("verify entry proof: inclusion proof missing or over %d hashes: %w", maxProofLen, ErrMalformed)
	}
	entry, err := decodeBase64(base64.StdEncoding, w.Entry)
	if err != nil {
		return nil, nil, fmt.Errorf("verify entry proof: entry: %w: %w", ErrMalformed, err)
	}
	proof := make([][]byte, len(w.InclusionProof))
	for i, s := range w.InclusionProof {
		if proof[i], err = decodeBase64(base64.StdEncoding, s); err != nil {
			return nil, nil, fmt.Errorf("verify entry proof: proof hash %d: %w: %w", i, ErrMalformed, err)
		}
	}
	e, err := ParseEntry(entry)
	if err != nil {
		return nil, nil, fmt.Errorf("verify entry proof: %w", err)
	}
	cp, err := OpenCheckpoint([]byte(w.Checkpoint), vaultDID)
	if err != nil {
		return nil, nil, fmt.Errorf("verify entry proof: %w", err)
	}
	if err := VerifyInclusion(LeafHash(entry), w.Index, cp.Size, proof, cp.Root); err != nil {
		return nil, nil, fmt.Errorf("verify entry proof: %w", err)
	}
	return e, cp, nil
}
