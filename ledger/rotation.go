package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// Owner key rotation. A vault's DID is a did:key, so a new owner key is a
// new DID. The old key signs a rotation statement naming its successor
// and the log as it stands; the new key co-signs the very same payload.
// The vault logs the rotation (a DIDRotated entry), signs with the old key
// a last checkpoint over the tree ending with that entry (the handover)
// and signs the same tree with the new key (the successor checkpoint):
// the log goes on, with the same leaves, under the new DID. A chain of
// such links, oldest first, takes whoever knew an earlier DID to the
// current one, verifiably and offline.

// RotationType is the typ of a rotation statement's JWS header.
const RotationType = "trove-rotation+jwt"

// Limits on rotation material.
const (
	// MaxRotationSize bounds one JWS of a rotation (statement or
	// co-signature), in bytes.
	MaxRotationSize = 8 << 10
	// MaxRotationChainSize bounds a served rotation chain, in bytes.
	MaxRotationChainSize = 1 << 20
	// MaxRotationLinks bounds the links of a rotation chain.
	MaxRotationLinks = 64
	// maxRotationID bounds a statement's jti.
	maxRotationID = 128
)

// Rotation is what a rotation statement says: the owner key of the vault
// whose DID is Old passes to the key of New, when the log held LogSize
// entries with root LogRoot.
type Rotation struct {
	// ID identifies the statement (jti).
	ID string
	// Old is the retiring DID (iss), whose key signs the statement.
	Old string
	// New is the successor DID (sub), whose key co-signs it.
	New string
	// IssuedAt is when it was signed (iat), to the second.
	IssuedAt time.Time
	// LogSize is the number of entries in the log at rotation, before the
	// DIDRotated entry; LogRoot is that tree's root.
	LogSize uint64
	LogRoot []byte
}

type rotationJSON struct {
	Old      string `json:"iss"`
	New      string `json:"sub"`
	IssuedAt int64  `json:"iat"`
	ID       string `json:"jti"`
	LogSize  uint64 `json:"log_size"`
	LogRoot  string `json:"log_root"`
}

var rotationKeys = []string{"iss", "sub", "iat", "jti", "log_size", "log_root"}

func (r Rotation) validate() error {
	if _, err := vaultKey(r.Old); err != nil {
		return fmt.Errorf("rotation: old DID: %w", err)
	}
	if _, err := vaultKey(r.New); err != nil {
		return fmt.Errorf("rotation: new DID: %w", err)
	}
	if r.Old == r.New {
		return fmt.Errorf("rotation: the old and the new DID are the same: %w", ErrMalformed)
	}
	if r.ID == "" || len(r.ID) > maxRotationID || !utf8.ValidString(r.ID) {
		return fmt.Errorf("rotation: jti must be 1 to %d bytes of UTF-8: %w", maxRotationID, ErrMalformed)
	}
	if r.IssuedAt.Unix() <= 0 {
		return fmt.Errorf("rotation: issued at %v: %w", r.IssuedAt, ErrMalformed)
	}
	if len(r.LogRoot) != HashSize {
		return fmt.Errorf("rotation: log root has %d bytes, want %d: %w", len(r.LogRoot), HashSize, ErrMalformed)
	}
	return nil
}

// SignRotation signs r with the retiring key (the statement) and with its
// successor (the co-signature), over one payload. r.Old must be
// oldKey.DID() and r.New newKey.DID(); IssuedAt is truncated to the
// second.
func SignRotation(oldKey, newKey Signer, r Rotation) (statement, cosignature string, err error) {
	if r.Old != oldKey.DID() || r.New != newKey.DID() {
		return "", "", fmt.Errorf("sign rotation: the DIDs named are not the signers'")
	}
	r.IssuedAt = r.IssuedAt.UTC().Truncate(time.Second)
	if err := r.validate(); err != nil {
		return "", "", fmt.Errorf("sign rotation: %w", err)
	}
	payload, err := json.Marshal(rotationJSON{Old: r.Old, New: r.New, IssuedAt: r.IssuedAt.Unix(), ID: r.ID,
		LogSize: r.LogSize, LogRoot: base64.StdEncoding.EncodeToString(r.LogRoot)})
	if err != nil {
		return "", "", fmt.Errorf("sign rotation: %w", err)
	}
	if statement, err = signCompactTyp(oldKey, payload, RotationType); err != nil {
		return "", "", fmt.Errorf("sign rotation: %w", err)
	}
	if cosignature, err = signCompactTyp(newKey, payload, RotationType); err != nil {
		return "", "", fmt.Errorf("sign rotation: %w", err)
	}
	return statement, cosignature, nil
}

// VerifyRotation verifies a rotation statement and its co-signature,
// offline: each at most MaxRotationSize bytes, compact JWS on the strict
// path (EdDSA only, header alg, kid and typ only, typ RotationType), the
// two payloads byte for byte the same, the statement signed by the key of
// the DID in iss and the co-signature by the key of the DID in sub. It
// returns what the statement says.
func VerifyRotation(statement, cosignature string) (*Rotation, error) {
	for _, t := range []string{statement, cosignature} {
		if len(t) > MaxRotationSize {
			return nil, fmt.Errorf("verify rotation: %d bytes, limit %d: %w", len(t), MaxRotationSize, ErrTooLarge)
		}
	}
	payload, err := compactPayload(statement, "rotation statement")
	if err != nil {
		return nil, fmt.Errorf("verify rotation: %w", err)
	}
	var w rotationJSON
	if err := decodeStrict(payload, &w, rotationKeys...); err != nil {
		return nil, fmt.Errorf("verify rotation: %w: %w", ErrMalformed, err)
	}
	root, err := decodeBase64(base64.StdEncoding, w.LogRoot)
	if err != nil {
		return nil, fmt.Errorf("verify rotation: log root: %w: %w", ErrMalformed, err)
	}
	r := &Rotation{ID: w.ID, Old: w.Old, New: w.New, IssuedAt: time.Unix(w.IssuedAt, 0).UTC(), LogSize: w.LogSize, LogRoot: root}
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("verify rotation: %w", err)
	}
	oldPub, err := vaultKey(r.Old)
	if err != nil {
		return nil, fmt.Errorf("verify rotation: %w", err)
	}
	newPub, err := vaultKey(r.New)
	if err != nil {
		return nil, fmt.Errorf("verify rotation: %w", err)
	}
	signed, err := verifyCompactTyp(statement, "rotation statement", RotationType, r.Old, oldPub)
	if err != nil {
		return nil, fmt.Errorf("verify rotation: %w", err)
	}
	cosigned, err := verifyCompactTyp(cosignature, "rotation co-signature", RotationType, r.New, newPub)
	if err != nil {
		return nil, fmt.Errorf("verify rotation: %w", err)
	}
	if !bytes.Equal(signed, payload) || !bytes.Equal(cosigned, payload) {
		return nil, fmt.Errorf("verify rotation: the co-signature is over another statement: %w", ErrMismatch)
	}
	return r, nil
}

// StatementHash returns the lowercase sha256 hex of a rotation statement
// (the old key's JWS), as the DIDRotated entry records it.
func StatementHash(statement string) string {
	sum := sha256.Sum256([]byte(statement))
	return hex.EncodeToString(sum[:])
}

// RotationEntry returns the log entry that records r, its statement
// hashing to statementHash.
func RotationEntry(r Rotation, statementHash string) Entry {
	return Entry{Type: DIDRotated, Time: r.IssuedAt, Subject: r.Old,
		Fields: map[string]string{"old": r.Old, "new": r.New, "statement_sha256": statementHash}}
}

// RotationLink is one rotation as a vault serves it: the statement and
// its co-signature, the DIDRotated entry at Index, the handover checkpoint
// (signed by the old DID, over the tree of Index+1 entries) and the
// successor checkpoint (the same tree signed by the new DID), with the
// proofs that tie them: the entry's inclusion under the handover, the
// statement's tree extended by the handover's, and the previous link's
// handover extended by this one's (empty for the first link).
type RotationLink struct {
	Statement      string
	Cosignature    string
	Index          uint64
	Entry          []byte
	Handover       string
	Successor      string
	InclusionProof [][]byte
	StatementProof [][]byte
	ChainProof     [][]byte
}

type rotationLinkJSON struct {
	Statement      string   `json:"statement"`
	Cosignature    string   `json:"cosignature"`
	Index          uint64   `json:"index"`
	Entry          string   `json:"entry"`
	Handover       string   `json:"handover"`
	Successor      string   `json:"successor"`
	InclusionProof []string `json:"inclusion_proof"`
	StatementProof []string `json:"statement_proof"`
	ChainProof     []string `json:"chain_proof"`
}

var rotationLinkKeys = []string{"statement", "cosignature", "index", "entry", "handover", "successor",
	"inclusion_proof", "statement_proof", "chain_proof"}

type rotationChainJSON struct {
	Rotations []json.RawMessage `json:"rotations"`
}

func encodeHashes(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h)
	}
	return out
}

func decodeHashes(what string, ss []string) ([][]byte, error) {
	if ss == nil {
		return nil, fmt.Errorf("%s missing: %w", what, ErrMalformed)
	}
	if len(ss) > maxProofLen {
		return nil, fmt.Errorf("%s has %d hashes, at most %d: %w", what, len(ss), maxProofLen, ErrMalformed)
	}
	out := make([][]byte, len(ss))
	for i, s := range ss {
		h, err := decodeBase64(base64.StdEncoding, s)
		if err != nil || len(h) != HashSize {
			return nil, fmt.Errorf("%s hash %d is not %d bytes of base64: %w", what, i, HashSize, ErrMalformed)
		}
		out[i] = h
	}
	return out, nil
}

// MarshalJSON encodes the link as GET /v1/did/rotations serves it: the
// entry and proof hashes in standard base64, checkpoints as note text.
func (l RotationLink) MarshalJSON() ([]byte, error) {
	return json.Marshal(rotationLinkJSON{Statement: l.Statement, Cosignature: l.Cosignature, Index: l.Index,
		Entry: base64.StdEncoding.EncodeToString(l.Entry), Handover: l.Handover, Successor: l.Successor,
		InclusionProof: encodeHashes(l.InclusionProof), StatementProof: encodeHashes(l.StatementProof),
		ChainProof: encodeHashes(l.ChainProof)})
}

// MarshalRotationChain encodes a chain, oldest link first, as
// {"rotations": [...]}.
func MarshalRotationChain(links []RotationLink) ([]byte, error) {
	raw := make([]json.RawMessage, len(links))
	for i, l := range links {
		b, err := l.MarshalJSON()
		if err != nil {
			return nil, err
		}
		raw[i] = b
	}
	return json.Marshal(rotationChainJSON{Rotations: raw})
}

// ParseRotationChain decodes a chain strictly: at most
// MaxRotationChainSize bytes and MaxRotationLinks links, known fields
// only, each once, canonical base64, proofs of HashSize hashes. It checks
// structure only; VerifyRotationChain checks what the chain says.
func ParseRotationChain(b []byte) ([]RotationLink, error) {
	if len(b) > MaxRotationChainSize {
		return nil, fmt.Errorf("parse rotation chain: %d bytes, limit %d: %w", len(b), MaxRotationChainSize, ErrTooLarge)
	}
	var w rotationChainJSON
	if err := decodeStrict(b, &w, "rotations"); err != nil {
		return nil, fmt.Errorf("parse rotation chain: %w: %w", ErrMalformed, err)
	}
	if w.Rotations == nil {
		return nil, fmt.Errorf("parse rotation chain: no rotations list: %w", ErrMalformed)
	}
	if len(w.Rotations) > MaxRotationLinks {
		return nil, fmt.Errorf("parse rotation chain: %d links, at most %d: %w", len(w.Rotations), MaxRotationLinks, ErrTooLarge)
	}
	links := make([]RotationLink, len(w.Rotations))
	for i, raw := range w.Rotations {
		l, err := parseRotationLink(raw)
		if err != nil {
			return nil, fmt.Errorf("parse rotation chain: link %d: %w", i, err)
		}
		links[i] = *l
	}
	return links, nil
}

func parseRotationLink(b []byte) (*RotationLink, error) {
	var w rotationLinkJSON
	if err := decodeStrict(b, &w, rotationLinkKeys...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	entry, err := decodeBase64(base64.StdEncoding, w.Entry)
	if err != nil {
		return nil, fmt.Errorf("entry: %w: %w", ErrMalformed, err)
	}
	l := &RotationLink{Statement: w.Statement, Cosignature: w.Cosignature, Index: w.Index, Entry: entry,
		Handover: w.Handover, Successor: w.Successor}
	if l.InclusionProof, err = decodeHashes("inclusion proof", w.InclusionProof); err != nil {
		return nil, err
	}
	if l.StatementProof, err = decodeHashes("statement proof", w.StatementProof); err != nil {
		return nil, err
	}
	if l.ChainProof, err = decodeHashes("chain proof", w.ChainProof); err != nil {
		return nil, err
	}
	return l, nil
}

// VerifiedRotation is a link of a chain that VerifyRotationChain checked.
type VerifiedRotation struct {
	Link      RotationLink // as received
	Rotation  *Rotation
	Index     uint64      // of the DIDRotated entry
	Handover  *Checkpoint // signed by Rotation.Old, over the tree ending with the entry
	Successor *Checkpoint // the same tree, signed by Rotation.New
}

// VerifyRotationLink verifies one link offline: the statement and its
// co-signature (VerifyRotation); that the entry is the DIDRotated entry
// of this statement and sits at Index, where the statement's tree ends;
// the handover checkpoint, signed by the old DID, of Index+1 entries,
// including the entry and extending the statement's tree; and the
// successor checkpoint, signed by the new DID, of the same tree.
func VerifyRotationLink(l RotationLink) (*VerifiedRotation, error) {
	r, err := VerifyRotation(l.Statement, l.Cosignature)
	if err != nil {
		return nil, err
	}
	e, err := ParseEntry(l.Entry)
	if err != nil {
		return nil, fmt.Errorf("rotation entry: %w", err)
	}
	if e.Type != DIDRotated || e.Fields["old"] != r.Old || e.Fields["new"] != r.New ||
		e.Fields["statement_sha256"] != StatementHash(l.Statement) {
		return nil, fmt.Errorf("rotation entry: does not record this statement: %w", ErrMismatch)
	}
	if r.LogSize != l.Index {
		return nil, fmt.Errorf("rotation entry at %d, the statement's log ends at %d: %w", l.Index, r.LogSize, ErrMismatch)
	}
	handover, err := OpenCheckpoint([]byte(l.Handover), r.Old)
	if err != nil {
		return nil, fmt.Errorf("handover checkpoint: %w", err)
	}
	if handover.Size != l.Index+1 {
		return nil, fmt.Errorf("handover checkpoint of %d entries, want %d: %w", handover.Size, l.Index+1, ErrMismatch)
	}
	if err := VerifyInclusion(LeafHash(l.Entry), l.Index, handover.Size, l.InclusionProof, handover.Root); err != nil {
		return nil, fmt.Errorf("rotation entry under the handover: %w", err)
	}
	if r.LogSize == 0 {
		empty, err := NewTree().Root()
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(empty, r.LogRoot) {
			return nil, fmt.Errorf("the statement's empty log has another root: %w", ErrInconsistent)
		}
	}
	if err := VerifyConsistency(r.LogSize, handover.Size, l.StatementProof, r.LogRoot, handover.Root); err != nil {
		return nil, fmt.Errorf("the handover does not extend the statement's log: %w", err)
	}
	successor, err := OpenCheckpoint([]byte(l.Successor), r.New)
	if err != nil {
		return nil, fmt.Errorf("successor checkpoint: %w", err)
	}
	if successor.Size != handover.Size || !bytes.Equal(successor.Root, handover.Root) {
		return nil, fmt.Errorf("the successor checkpoint is over another tree than the handover: %w", ErrInconsistent)
	}
	return &VerifiedRotation{Link: l, Rotation: r, Index: l.Index, Handover: handover, Successor: successor}, nil
}

// VerifyRotationChain verifies, offline, the part of a chain (oldest link
// first) that starts at the rotation away from the DID from: every link
// from there (VerifyRotationLink), each link's old DID the previous one's
// new DID, and each handover extending the previous one (the link's
// ChainProof). It returns the verified links, the last naming the
// current DID. A chain with no link away from from is refused with
// ErrWrongVault: it does not say that from has a successor.
func VerifyRotationChain(links []RotationLink, from string) ([]VerifiedRotation, error) {
	if len(links) > MaxRotationLinks {
		return nil, fmt.Errorf("verify rotation chain: %d links, at most %d: %w", len(links), MaxRotationLinks, ErrTooLarge)
	}
	start := -1
	for i, l := range links {
		payload, err := compactPayload(l.Statement, "rotation statement")
		if err != nil {
			return nil, fmt.Errorf("verify rotation chain: link %d: %w", i, err)
		}
		var w rotationJSON
		if err := decodeStrict(payload, &w, rotationKeys...); err == nil && w.Old == from {
			start = i
			break
		}
	}
	if start < 0 {
		return nil, fmt.Errorf("verify rotation chain: no rotation away from %s: %w", short(from), ErrWrongVault)
	}
	var out []VerifiedRotation
	var prev *VerifiedRotation
	for i, l := range links[start:] {
		v, err := VerifyRotationLink(l)
		if err != nil {
			return nil, fmt.Errorf("verify rotation chain: link %d: %w", start+i, err)
		}
		if prev == nil {
			if v.Rotation.Old != from {
				return nil, fmt.Errorf("verify rotation chain: link %d: %w", start+i, ErrWrongVault)
			}
		} else {
			if v.Rotation.Old != prev.Rotation.New {
				return nil, fmt.Errorf("verify rotation chain: link %d is not by the previous link's successor: %w", start+i, ErrWrongVault)
			}
			if err := VerifyConsistency(prev.Handover.Size, v.Handover.Size, l.ChainProof, prev.Handover.Root, v.Handover.Root); err != nil {
				return nil, fmt.Errorf("verify rotation chain: link %d's handover does not extend the previous one: %w", start+i, err)
			}
		}
		out = append(out, *v)
		prev = &out[len(out)-1]
	}
	for i := range out {
		for j := range i {
			if out[i].Rotation.New == out[j].Rotation.Old {
				return nil, fmt.Errorf("verify rotation chain: it returns to an earlier DID: %w", ErrMalformed)
			}
		}
	}
	return out, nil
}
