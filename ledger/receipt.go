package ledger

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// MaxReceiptSize bounds a receipt bundle (receipt.json), in bytes.
const MaxReceiptSize = 256 << 10

// maxJWSSize bounds the receipt JWS inside a bundle, in bytes.
const maxJWSSize = 16 << 10

// ReceiptClaims is what a vault signs about one run. Its JSON form is a
// JWT claims set: jti, iss and iat are the registered claims, the rest
// are trove's own.
type ReceiptClaims struct {
	// ID identifies the receipt (jti).
	ID string
	// JobID identifies the job that ran.
	JobID string
	// ConsentID identifies the consent credential the job ran under.
	ConsentID string
	// Requester is the requester's DID.
	Requester string
	// Vault is the vault's DID, the issuer (iss).
	Vault string
	// DatasetDigest is the digest of the dataset the job read.
	DatasetDigest string
	// Algorithm is the sha256 hex of the module that ran, or a built-in
	// algorithm's id (builtin:stats@1).
	Algorithm string
	// ParamsSHA256 is the lowercase sha256 hex of the job's parameters as
	// the vault received them, compacted (json.Compact, which keeps string
	// escapes as sent); of the empty string when there were none.
	ParamsSHA256 string
	// OutputSHA256 is the lowercase sha256 hex of the output.
	OutputSHA256 string
	// RowsRead is how many rows of the dataset the algorithm was given.
	RowsRead uint64
	// LogIndex is the index of the run's entry in the vault's log.
	LogIndex uint64
	// LeafHash is the lowercase hex RFC 6962 leaf hash of that entry.
	LeafHash string
	// IssuedAt is when the receipt was issued (iat), to the second.
	IssuedAt time.Time
	// Policy is the output policy the result was released under (release,
	// review or dp); empty in receipts made before policies existed.
	Policy string
	// DP is, under the dp policy, what the job spent and what the dataset's
	// lifetime budget had spent and left once it was charged.
	DP *ReceiptDP
}

// ReceiptDP is the privacy accounting a receipt records for a DP job.
type ReceiptDP struct {
	Epsilon      float64 `json:"epsilon"`       // this job's ε
	Delta        float64 `json:"delta"`         // this job's δ
	SpentEpsilon float64 `json:"spent_epsilon"` // the dataset's budget spent, as ε at its δ
	LeftEpsilon  float64 `json:"left_epsilon"`  // the dataset's budget left, as ε at its δ
}

type receiptClaimsJSON struct {
	ID            string     `json:"jti"`
	Vault         string     `json:"iss"`
	IssuedAt      int64      `json:"iat"`
	JobID         string     `json:"job_id"`
	ConsentID     string     `json:"consent_id"`
	Requester     string     `json:"requester"`
	DatasetDigest string     `json:"dataset_digest"`
	Algorithm     string     `json:"algorithm"`
	ParamsSHA256  string     `json:"params_sha256"`
	OutputSHA256  string     `json:"output_sha256"`
	RowsRead      uint64     `json:"rows_read"`
	LogIndex      uint64     `json:"log_index"`
	LeafHash      string     `json:"leaf_hash"`
	Policy        string     `json:"policy,omitempty"`
	DP            *ReceiptDP `json:"dp,omitempty"`
}

var receiptClaimsKeys = []string{"jti", "iss", "iat", "job_id", "consent_id", "requester",
	"dataset_digest", "algorithm", "params_sha256", "output_sha256", "rows_read", "log_index", "leaf_hash", "policy", "dp"}

// MarshalJSON encodes the claims as a JWT claims set, iat in seconds.
func (c ReceiptClaims) MarshalJSON() ([]byte, error) {
	return json.Marshal(receiptClaimsJSON{
		ID: c.ID, Vault: c.Vault, IssuedAt: c.IssuedAt.Unix(), JobID: c.JobID,
		ConsentID: c.ConsentID, Requester: c.Requester, DatasetDigest: c.DatasetDigest,
		Algorithm: c.Algorithm, ParamsSHA256: c.ParamsSHA256, OutputSHA256: c.OutputSHA256, RowsRead: c.RowsRead,
		LogIndex: c.LogIndex, LeafHash: c.LeafHash, Policy: c.Policy, DP: c.DP,
	})
}

// UnmarshalJSON decodes a claims set strictly: unknown, duplicate or
// misspelled fields are refused.
func (c *ReceiptClaims) UnmarshalJSON(b []byte) error {
	var w receiptClaimsJSON
	if err := decodeStrict(b, &w, receiptClaimsKeys...); err != nil {
		return fmt.Errorf("receipt claims: %w: %w", ErrMalformed, err)
	}
	*c = ReceiptClaims{
		ID: w.ID, JobID: w.JobID, ConsentID: w.ConsentID, Requester: w.Requester, Vault: w.Vault,
		DatasetDigest: w.DatasetDigest, Algorithm: w.Algorithm, ParamsSHA256: w.ParamsSHA256, OutputSHA256: w.OutputSHA256,
		RowsRead: w.RowsRead, LogIndex: w.LogIndex, LeafHash: w.LeafHash, IssuedAt: time.Unix(w.IssuedAt, 0).UTC(),
		Policy: w.Policy, DP: w.DP,
	}
	return nil
}

// validate checks that every claim is present and well-formed.
func (c ReceiptClaims) validate() error {
	if err := requireAll("receipt claims", "id", c.ID, "job id", c.JobID, "consent id", c.ConsentID,
		"vault", c.Vault, "dataset digest", c.DatasetDigest, "algorithm", c.Algorithm); err != nil {
		return err
	}
	if !strings.HasPrefix(c.Requester, "did:") {
		return fmt.Errorf("receipt claims: requester %q is not a DID: %w", short(c.Requester), ErrMalformed)
	}
	if !isSHA256Hex(c.OutputSHA256) {
		return fmt.Errorf("receipt claims: output sha256 %q is not 64 lowercase hex digits: %w", short(c.OutputSHA256), ErrMalformed)
	}
	if !isSHA256Hex(c.ParamsSHA256) {
		return fmt.Errorf("receipt claims: params sha256 %q is not 64 lowercase hex digits: %w", short(c.ParamsSHA256), ErrMalformed)
	}
	if !isSHA256Hex(c.LeafHash) {
		return fmt.Errorf("receipt claims: leaf hash %q is not 64 lowercase hex digits: %w", short(c.LeafHash), ErrMalformed)
	}
	if c.IssuedAt.Unix() <= 0 {
		return fmt.Errorf("receipt claims: issued at %v: %w", c.IssuedAt, ErrMalformed)
	}
	return nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 2*HashSize {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// ReceiptEntry returns the log entry a receipt points to: the
// ResultReleased entry for the requester that repeats the receipt's
// identifiers and digests. The vault appends its Marshal-ed bytes, sets
// c.LogIndex and c.LeafHash from the append, then calls IssueReceipt.
// VerifyReceipt checks that the bundle's entry says at least what
// ReceiptEntry says (it may say more).
func ReceiptEntry(c ReceiptClaims) Entry {
	e := Entry{
		Type:    ResultReleased,
		Time:    c.IssuedAt,
		Subject: c.Requester,
		Fields: map[string]string{
			"receipt":        c.ID,
			"job":            c.JobID,
			"consent":        c.ConsentID,
			"dataset_digest": c.DatasetDigest,
			"algorithm":      c.Algorithm,
			"output_sha256":  c.OutputSHA256,
			"params_sha256":  c.ParamsSHA256,
			"rows_read":      strconv.FormatUint(c.RowsRead, 10),
		},
	}
	if c.Policy != "" {
		e.Fields["policy"] = c.Policy
	}
	if c.DP != nil {
		f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
		e.Fields["dp_epsilon"], e.Fields["dp_delta"] = f(c.DP.Epsilon), f(c.DP.Delta)
		e.Fields["budget_spent_epsilon"], e.Fields["budget_left_epsilon"] = f(c.DP.SpentEpsilon), f(c.DP.LeftEpsilon)
	}
	return e
}

// IssueReceipt signs c as a compact JWS (alg EdDSA, kid = s.KeyID(), typ
// JWT). c.Vault must be s.DID(); IssuedAt is truncated to the second.
func IssueReceipt(s Signer, c ReceiptClaims) (string, error) {
	if c.Vault != s.DID() {
		return "", fmt.Errorf("issue receipt: vault %q is not the signer's DID %q", short(c.Vault), short(s.DID()))
	}
	c.IssuedAt = c.IssuedAt.UTC().Truncate(time.Second)
	if err := c.validate(); err != nil {
		return "", fmt.Errorf("issue receipt: %w", err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("issue receipt: %w", err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, s.KeyID()); err != nil {
		return "", fmt.Errorf("issue receipt: %w", err)
	}
	if err := hdr.Set(jws.TypeKey, "JWT"); err != nil {
		return "", fmt.Errorf("issue receipt: %w", err)
	}
	token, err := jws.Sign(payload, jws.WithKey(jwa.EdDSA(), cryptoSigner{s}, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("issue receipt: %w", err)
	}
	return string(token), nil
}

// Receipt is the bundle a requester keeps (receipt.json): the signed
// receipt, the log entry it points to, a checkpoint signed by the vault
// and the proof that the entry is included under it.
type Receipt struct {
	// Receipt is the signed receipt, a compact JWS from IssueReceipt.
	Receipt string
	// Entry is the log entry's bytes, whose leaf hash the receipt names.
	Entry []byte
	// Checkpoint is the text of a signed checkpoint note whose tree
	// includes Entry.
	Checkpoint string
	// InclusionProof proves Entry's inclusion under Checkpoint.
	InclusionProof [][]byte
}

type receiptJSON struct {
	Receipt        string   `json:"receipt"`
	Entry          string   `json:"entry"`
	Checkpoint     string   `json:"checkpoint"`
	InclusionProof []string `json:"inclusion_proof"`
}

var receiptKeys = []string{"receipt", "entry", "checkpoint", "inclusion_proof"}

// MarshalJSON encodes the bundle: entry and proof hashes in standard
// base64, the checkpoint as its note text.
func (r Receipt) MarshalJSON() ([]byte, error) {
	w := receiptJSON{
		Receipt:        r.Receipt,
		Entry:          base64.StdEncoding.EncodeToString(r.Entry),
		Checkpoint:     r.Checkpoint,
		InclusionProof: make([]string, len(r.InclusionProof)),
	}
	for i, h := range r.InclusionProof {
		w.InclusionProof[i] = base64.StdEncoding.EncodeToString(h)
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes a bundle strictly: exact field names, no unknown
// or duplicate fields, canonical base64. It checks structure only;
// VerifyReceipt checks what the bundle claims.
func (r *Receipt) UnmarshalJSON(b []byte) error {
	var w receiptJSON
	if err := decodeStrict(b, &w, receiptKeys...); err != nil {
		return fmt.Errorf("receipt bundle: %w: %w", ErrMalformed, err)
	}
	if w.InclusionProof == nil {
		return fmt.Errorf("receipt bundle: no inclusion_proof: %w", ErrMalformed)
	}
	if len(w.InclusionProof) > maxProofLen {
		return fmt.Errorf("receipt bundle: proof has %d hashes, at most %d: %w", len(w.InclusionProof), maxProofLen, ErrMalformed)
	}
	entry, err := decodeBase64(base64.StdEncoding, w.Entry)
	if err != nil {
		return fmt.Errorf("receipt bundle: entry: %w: %w", ErrMalformed, err)
	}
	proof := make([][]byte, len(w.InclusionProof))
	for i, s := range w.InclusionProof {
		if proof[i], err = decodeBase64(base64.StdEncoding, s); err != nil {
			return fmt.Errorf("receipt bundle: proof hash %d: %w: %w", i, ErrMalformed, err)
		}
	}
	*r = Receipt{Receipt: w.Receipt, Entry: entry, Checkpoint: w.Checkpoint, InclusionProof: proof}
	return nil
}

// VerifyReceipt verifies a receipt bundle offline, with nothing but the
// vault's DID, and returns the receipt's claims and the checkpoint it was
// proved against. It checks, in order: the bundle's size and structure;
// the JWS (compact, alg EdDSA only, no crit or other headers, kid if
// present naming vaultDID's key, signature by vaultDID's key, issuer
// vaultDID); that the entry hashes to the signed leaf hash and agrees with
// the claims (see ReceiptEntry); the checkpoint's signature and origin;
// and the entry's inclusion under the checkpoint's root.
func VerifyReceipt(bundle []byte, vaultDID string) (*ReceiptClaims, *Checkpoint, error) {
	if len(bundle) > MaxReceiptSize {
		return nil, nil, fmt.Errorf("verify receipt: %d bytes, limit %d: %w", len(bundle), MaxReceiptSize, ErrTooLarge)
	}
	pub, err := vaultKey(vaultDID)
	if err != nil {
		return nil, nil, fmt.Errorf("verify receipt: %w", err)
	}
	var r Receipt
	if err := r.UnmarshalJSON(bundle); err != nil {
		return nil, nil, fmt.Errorf("verify receipt: %w", err)
	}
	c, err := verifyReceiptJWS(r.Receipt, vaultDID, pub)
	if err != nil {
		return nil, nil, fmt.Errorf("verify receipt: %w", err)
	}
	leaf := LeafHash(r.Entry)
	if hex.EncodeToString(leaf) != c.LeafHash {
		return nil, nil, fmt.Errorf("verify receipt %s: entry does not hash to the signed leaf hash: %w", short(c.ID), ErrMismatch)
	}
	e, err := ParseEntry(r.Entry)
	if err != nil {
		return nil, nil, fmt.Errorf("verify receipt %s: %w", short(c.ID), err)
	}
	if err := entryMatches(*c, e); err != nil {
		return nil, nil, fmt.Errorf("verify receipt %s: %w", short(c.ID), err)
	}
	cp, err := OpenCheckpoint([]byte(r.Checkpoint), vaultDID)
	if err != nil {
		return nil, nil, fmt.Errorf("verify receipt %s: %w", short(c.ID), err)
	}
	if err := VerifyInclusion(leaf, c.LogIndex, cp.Size, r.InclusionProof, cp.Root); err != nil {
		return nil, nil, fmt.Errorf("verify receipt %s: %w", short(c.ID), err)
	}
	return c, cp, nil
}

// entryMatches checks that e says what ReceiptEntry(c) says.
func entryMatches(c ReceiptClaims, e *Entry) error {
	want := ReceiptEntry(c)
	if e.Type != want.Type {
		return fmt.Errorf("entry is %q, want %q: %w", short(string(e.Type)), want.Type, ErrMismatch)
	}
	if e.Subject != want.Subject {
		return fmt.Errorf("entry subject %q, receipt requester %q: %w", short(e.Subject), short(want.Subject), ErrMismatch)
	}
	for k, v := range want.Fields {
		if got, ok := e.Fields[k]; !ok || got != v {
			return fmt.Errorf("entry %s %q, receipt says %q: %w", k, short(got), short(v), ErrMismatch)
		}
	}
	return nil
}

// jwsHeader is the only protected header a receipt may carry.
type jwsHeader struct {
	Alg string  `json:"alg"`
	Kid *string `json:"kid"`
	Typ *string `json:"typ"`
}

var jwsHeaderKeys = []string{"alg", "kid", "typ"}

// verifyReceiptJWS verifies a compact JWS receipt by vaultDID's key pub
// and returns its claims. Every part is decoded strictly before the
// signature is checked, so one token has one encoding.
func verifyReceiptJWS(token, vaultDID string, pub ed25519.PublicKey) (*ReceiptClaims, error) {
	payload, err := verifyCompact(token, "receipt", vaultDID, pub)
	if err != nil {
		return nil, err
	}
	var c ReceiptClaims
	if err := c.UnmarshalJSON(payload); err != nil {
		return nil, fmt.Errorf("receipt JWS payload: %w", err)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("receipt JWS payload: %w", err)
	}
	if c.Vault != vaultDID {
		return nil, fmt.Errorf("receipt JWS: issuer %q, want %q: %w", short(c.Vault), short(vaultDID), ErrWrongVault)
	}
	return &c, nil
}
