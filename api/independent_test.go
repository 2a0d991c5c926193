package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	tproof "github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/ledger"
)

// independentCheckpoint opens a checkpoint note with x/mod's note package
// alone and parses its three body lines by hand.
func independentCheckpoint(t *testing.T, vaultDID string, signed []byte) (uint64, []byte) {
	t.Helper()
	pub, err := did.PublicKey(vaultDID)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := note.NewEd25519VerifierKey(vaultDID, pub)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(signed, note.VerifierList(verifier))
	if err != nil {
		t.Fatalf("x/mod note rejects the checkpoint: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[0] != vaultDID || lines[3] != "" {
		t.Fatalf("checkpoint body %q", n.Text)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != sha256.Size {
		t.Fatalf("checkpoint root %q: %v", lines[2], err)
	}
	return size, root
}

// Everything the vault serves over HTTP about its log — checkpoints,
// entries, inclusion and consistency proofs — verifies with
// golang.org/x/mod/sumdb/note and transparency-dev/merkle's proof package
// directly, not through trove's own verifier.
func TestLogVerifiesIndependentlyOverHTTP(t *testing.T) {
	w := newWorld(t)
	cred := w.consent("builtin:stats@1", 5, time.Hour)
	var receipts []ledger.Receipt
	for range 3 {
		job, err := w.client.SubmitJob(w.ctx, api.JobBody{Presentation: w.present(w.key, cred), Algorithm: "builtin:stats@1"})
		if err != nil {
			t.Fatal(err)
		}
		var r ledger.Receipt
		if err := json.Unmarshal(job.Receipt, &r); err != nil {
			t.Fatal(err)
		}
		receipts = append(receipts, r)
	}
	signed, err := w.client.Checkpoint(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	size, root := independentCheckpoint(t, w.vault.DID(), signed)
	if size < 6 {
		t.Fatalf("log size %d after three jobs", size)
	}
	// Every entry is served as logged and is included in the tree.
	for i := range size {
		entry, err := w.client.LogEntry(w.ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		leaf := rfc6962.DefaultHasher.HashLeaf(entry)
		p, err := w.client.InclusionProof(w.ctx, i, size)
		if err != nil {
			t.Fatal(err)
		}
		if err := tproof.VerifyInclusion(rfc6962.DefaultHasher, i, size, leaf, p.Hashes, root); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	// Each receipt's checkpoint is consistent with the latest, and its
	// bundled inclusion proof verifies against its own checkpoint.
	for _, r := range receipts {
		oldSize, oldRoot := independentCheckpoint(t, w.vault.DID(), []byte(r.Checkpoint))
		p, err := w.client.ConsistencyProof(w.ctx, oldSize, size)
		if err != nil {
			t.Fatal(err)
		}
		if err := tproof.VerifyConsistency(rfc6962.DefaultHasher, oldSize, size, p.Hashes, oldRoot, root); err != nil {
			t.Fatalf("consistency %d→%d: %v", oldSize, size, err)
		}
		var claims struct {
			LogIndex uint64 `json:"log_index"`
		}
		payload, err := base64.RawURLEncoding.DecodeString(strings.Split(r.Receipt, ".")[1])
		if err != nil || json.Unmarshal(payload, &claims) != nil {
			t.Fatalf("receipt payload: %v", err)
		}
		served, err := w.client.LogEntry(w.ctx, claims.LogIndex)
		if err != nil || !bytes.Equal(served, r.Entry) {
			t.Fatalf("entry %d served differs from the receipt's: %v", claims.LogIndex, err)
		}
		if err := tproof.VerifyInclusion(rfc6962.DefaultHasher, claims.LogIndex, oldSize, rfc6962.DefaultHasher.HashLeaf(r.Entry), r.InclusionProof, oldRoot); err != nil {
			t.Fatalf("receipt inclusion proof: %v", err)
		}
	}
	// Empty proofs (a one-leaf tree, equal sizes) come through as empty.
	if p, err := w.client.InclusionProof(w.ctx, 0, 1); err != nil || len(p.Hashes) != 0 {
		t.Fatalf("inclusion in a one-leaf tree: %v, %v", p, err)
	}
	if p, err := w.client.ConsistencyProof(w.ctx, size, size); err != nil || len(p.Hashes) != 0 {
		t.Fatalf("consistency of a tree with itself: %v, %v", p, err)
	}
	// Out-of-range and malformed indexes are refused precisely.
	if _, err := w.client.LogEntry(w.ctx, size); trove.ErrorCode(err) != trove.ENOTFOUND {
		t.Fatalf("entry past the end: %v", err)
	}
}
