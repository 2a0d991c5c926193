package requester

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/internal/safefile"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

// KeyFile is the requester's sealed key inside its home.
const KeyFile = "requester.key"

// Requester is an opened requester home.
type Requester struct {
	home     string
	key      *did.Key
	now      func() time.Time
	rand     io.Reader
	resolver *did.Resolver // resolves the did:web of vaults (BindWeb)
}

// Options tune a requester. The zero value is ready to use.
type Options struct {
	WorkFactor int              // scrypt work factor for a new key; 0 = did.DefaultWorkFactor
	Now        func() time.Time // the clock; nil = time.Now
	// WebLoopbackHTTP lets did:web documents of loopback hosts be fetched
	// over plain HTTP: for tests only (a vault on 127.0.0.1 has no TLS
	// certificate). Any other host is always fetched over HTTPS.
	WebLoopbackHTTP bool
}

func (o Options) clock() func() time.Time {
	if o.Now == nil {
		return time.Now
	}
	return o.Now
}

// open returns the requester of home and key, with opts.
func (o Options) open(home string, key *did.Key) *Requester {
	now := o.clock()
	return &Requester{home: home, key: key, now: now, rand: rand.Reader,
		resolver: did.NewResolver(did.ResolverOptions{AllowLoopbackHTTP: o.WebLoopbackHTTP, Now: now})}
}

// Init creates a requester home with a new key sealed under passphrase.
func Init(home string, passphrase []byte, opts Options) (*Requester, error) {
	if _, err := os.Stat(filepath.Join(home, KeyFile)); err == nil {
		return nil, trove.Errorf(trove.ECONFLICT, "a requester already exists in %s; refusing to overwrite it", home)
	}
	if len(passphrase) == 0 {
		return nil, trove.Errorf(trove.EINVALID, "the passphrase is empty")
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("create requester home: %w", err)
	}
	key, err := did.Generate(rand.Reader)
	if err != nil {
		return nil, err
	}
	sealed, err := did.Seal(key, passphrase, opts.WorkFactor)
	if err != nil {
		return nil, err
	}
	if err := safefile.Write(filepath.Join(home, KeyFile), sealed, 0o600); err != nil {
		return nil, fmt.Errorf("write requester key: %w", err)
	}
	return opts.open(home, key), nil
}

// Open opens an existing requester home.
func Open(home string, passphrase []byte, opts Options) (*Requester, error) {
	sealed, err := os.ReadFile(filepath.Join(home, KeyFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, trove.Errorf(trove.ENOTFOUND, "no requester in %s (run `trove requester init` first)", home)
	} else if err != nil {
		return nil, fmt.Errorf("read requester key: %w", err)
	}
	key, err := did.Unseal(sealed, passphrase)
	if errors.Is(err, did.ErrWrongPassphrase) {
		return nil, &trove.Error{Code: trove.EUNAUTHORIZED, Reason: "wrong_passphrase", Message: "the passphrase does not open this requester's key"}
	} else if err != nil {
		return nil, err
	}
	return opts.open(home, key), nil
}

// Signed returns c signing its requests as this requester, as requester
// endpoints require.
func (r *Requester) Signed(c *api.Client) *api.Client { return c.As(r.key, r.now, r.rand) }

// DID returns the requester's DID.
func (r *Requester) DID() string { return r.key.DID() }

// Home returns the requester's home directory.
func (r *Requester) Home() string { return r.home }

// Ask is what a requester asks a vault for.
type Ask struct {
	Dataset     string
	Algorithm   string   // sha256 of a module, or a built-in id
	Columns     []string // the columns to read; none means all
	Purpose     string
	PurposeCode string // one of consent.PurposeCodes
	MaxRuns     int
	Output      consent.OutputPolicy
	Price       consent.Money
	Per         string        // consent.PerRun, PerRound or Per1000Rows
	Share       string        // the share rule: consent.ShareContribution (per round only), or none
	Validity    time.Duration // how long the consent should last
	// WebDID, when set, is the did:web the vault is expected to be: it is
	// verified to vouch for the did:key the vault's catalog gives
	// (BindWeb) before the request is sent.
	WebDID string
}

// PendingRequest is what the requester keeps of a request it sent.
type PendingRequest struct {
	ID        string `json:"id"`
	VaultURL  string `json:"vault_url"`
	Vault     string `json:"vault"`
	Dataset   string `json:"dataset"`
	Algorithm string `json:"algorithm"`
	Token     string `json:"token,omitempty"`   // the signed request, which a counter-offer names by hash
	WebDID    string `json:"web_did,omitempty"` // the did:web verified to vouch for Vault when the request was sent
}

// RequestConsent signs a consent request for the vault behind c, sends it,
// and remembers it in the home so its status can be followed.
//
// With ask.WebDID, nothing is sent to the vault but the catalog's read
// until the did:web is verified to vouch for the vault's did:key.
func (r *Requester) RequestConsent(ctx context.Context, c *api.Client, ask Ask) (*api.ConsentRequestStatus, error) {
	c = r.Signed(c)
	if ask.WebDID != "" {
		if err := CheckWebDID(ask.WebDID); err != nil {
			return nil, err
		}
	}
	cat, err := c.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	if ask.WebDID != "" {
		if _, err := r.BindWeb(ctx, c, ask.WebDID, cat.Vault); err != nil {
			return nil, err
		}
	}
	id, err := r.newID()
	if err != nil {
		return nil, err
	}
	now := r.now().UTC()
	req := consent.Request{
		ID: id, Requester: r.DID(), Vault: cat.Vault, Dataset: ask.Dataset, Algorithm: ask.Algorithm, Columns: ask.Columns,
		Purpose: ask.Purpose, PurposeCode: ask.PurposeCode, MaxRuns: ask.MaxRuns, Output: ask.Output,
		Price: ask.Price, Per: ask.Per, Share: ask.Share, ExpiresAt: now.Add(ask.Validity), CreatedAt: now,
	}
	token, err := consent.SignRequest(r.key, req, now)
	if err != nil {
		return nil, err
	}
	st, err := c.SubmitConsentRequest(ctx, token)
	if err != nil {
		return nil, err
	}
	p := PendingRequest{ID: id, VaultURL: c.BaseURL(), Vault: cat.Vault, Dataset: ask.Dataset, Algorithm: ask.Algorithm, Token: token, WebDID: ask.WebDID}
	if err := r.saveJSON(filepath.Join("requests", id+".json"), p); err != nil {
		return nil, err
	}
	return st, nil
}

// Request returns a request this requester sent, as kept in its home.
func (r *Requester) Request(id string) (*PendingRequest, error) {
	if !validID(id) {
		return nil, trove.Errorf(trove.EINVALID, "%q is not a request id", id)
	}
	var p PendingRequest
	if err := r.loadJSON(filepath.Join("requests", id+".json"), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// RequestStatus asks the vault about a request. Once approved, the
// credential is verified (issued by the vault to this requester, for the
// terms asked) and kept in the home as consents/ID.jwt.
func (r *Requester) RequestStatus(ctx context.Context, c *api.Client, id string) (*api.ConsentRequestStatus, *consent.Credential, error) {
	c = r.Signed(c)
	p, err := r.Request(id)
	if err != nil {
		return nil, nil, err
	}
	st, err := c.ConsentRequest(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if st.State != vault.Approved {
		return st, nil, nil
	}
	cred, err := r.checkCredential(st.Credential)
	if err != nil {
		return nil, nil, err
	}
	// A request sent before the vault's key rotation is approved by its
	// successor DID: accepted only through the verified chain.
	if err := r.ensureSuccessor(ctx, c, p.Vault, cred.Issuer); err != nil {
		return nil, nil, err
	}
	if cred.Terms.Dataset != p.Dataset || cred.Terms.Algorithm != p.Algorithm {
		return nil, nil, trove.Errorf(trove.EFORBIDDEN, "the vault's credential is not for the dataset and algorithm asked")
	}
	if err := r.saveFile(filepath.Join("consents", consentFile(cred.ID)), []byte(st.Credential)); err != nil {
		return nil, nil, err
	}
	return st, cred, nil
}

// checkCredential verifies a Consent credential as its holder: issued to
// this requester by its issuer, which the caller ties to the vault (the
// vault's DID, or one it had before a key rotation).
func (r *Requester) checkCredential(token string) (*consent.Credential, error) {
	cred, err := consent.VerifyCredential(token, r.now())
	if err != nil {
		return nil, &trove.Error{Code: trove.EFORBIDDEN, Message: "the vault's credential does not verify", Err: err}
	}
	if cred.Subject != r.DID() || cred.Terms.Vault != cred.Issuer {
		return nil, trove.Errorf(trove.EFORBIDDEN, "the credential is not issued by the vault to this requester")
	}
	return cred, nil
}

// Credential returns a kept Consent credential by its id.
func (r *Requester) Credential(consentID string) (string, error) {
	b, err := os.ReadFile(filepath.Join(r.home, "consents", consentFile(consentID)))
	if errors.Is(err, os.ErrNotExist) {
		return "", trove.Errorf(trove.ENOTFOUND, "no kept consent %q (check `trove request status`)", consentID)
	}
	return strings.TrimSpace(string(b)), err
}

// Run is a job's outcome as the requester received and checked it.
type Run struct {
	Job          *vault.Job
	Presentation string
	Receipt      *ledger.ReceiptClaims
	Checkpoint   *ledger.Checkpoint
}

// RunJob presents credential to the vault behind c, bound to a fresh
// challenge, runs the algorithm (module nil for a built-in), and accepts
// the result only with a receipt that verifies and a checkpoint consistent
// with those kept before.
func (r *Requester) RunJob(ctx context.Context, c *api.Client, credential string, module []byte, params json.RawMessage) (*Run, error) {
	c = r.Signed(c)
	now := r.now()
	ch, err := c.Challenge(ctx)
	if err != nil {
		return nil, err
	}
	cred, err := r.checkCredential(credential)
	if err != nil {
		return nil, err
	}
	// A consent issued before the vault's key rotation runs under its new
	// DID once the chain from the issuer to it verifies.
	if err := r.ensureSuccessor(ctx, c, cred.Issuer, ch.Audience); err != nil {
		return nil, err
	}
	vp, err := consent.Present(r.key, credential, ch.Nonce, ch.Audience, now, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	job, err := c.SubmitJob(ctx, api.JobBody{Presentation: vp, Algorithm: cred.Terms.Algorithm, Params: params, Module: module})
	if err != nil {
		return nil, err
	}
	run := &Run{Job: job, Presentation: vp}
	if job.State != vault.JobSucceeded {
		return run, trove.Errorf(trove.EUNAVAILABLE, "job %s %s: %s", job.ID, job.State, job.Reason)
	}
	signer := ch.Audience
	rc, cp, err := ledger.VerifyReceipt(job.Receipt, signer)
	if errors.Is(err, ledger.ErrWrongVault) {
		// The job straddled a key rotation: it was accepted under the DID
		// of the challenge and released under its successor, which signed
		// the receipt. Only the verified chain makes that DID the vault's.
		if cur, ferr := r.FollowRotation(ctx, c, ch.Audience); ferr == nil {
			signer = cur
			rc, cp, err = ledger.VerifyReceipt(job.Receipt, signer)
		}
	}
	if err != nil {
		return run, &trove.Error{Code: trove.EFORBIDDEN, Reason: "bad_receipt", Message: "the vault's receipt does not verify", Err: err}
	}
	sum := sha256.Sum256(job.Result)
	// The receipt hashes the parameters as the vault received them, which
	// is how the client encoded them (compact, HTML-escaped).
	var sent []byte
	if len(params) > 0 {
		if sent, err = json.Marshal(params); err != nil {
			return run, err
		}
	}
	psum := sha256.Sum256(sent)
	if rc.OutputSHA256 != hex.EncodeToString(sum[:]) || rc.JobID != job.ID || rc.ConsentID != cred.ID || rc.Requester != r.DID() ||
		rc.ParamsSHA256 != hex.EncodeToString(psum[:]) {
		return run, trove.Errorf(trove.EFORBIDDEN, "the receipt does not describe this job and its result")
	}
	var bundle ledger.Receipt
	if err := json.Unmarshal(job.Receipt, &bundle); err != nil {
		return run, err
	}
	if _, err := r.CheckOlderCheckpoint(ctx, c, signer, []byte(bundle.Checkpoint)); err != nil {
		return run, err
	}
	run.Receipt, run.Checkpoint = rc, cp
	return run, nil
}

// KeepCheckpoint checks that the signed checkpoint note extends the last
// checkpoint kept from vaultDID (asking the vault for a consistency proof)
// and keeps it. A smaller tree, or one that does not extend the old, means
// the vault rewrote its log.
func (r *Requester) KeepCheckpoint(ctx context.Context, c *api.Client, vaultDID string, signed []byte) (*ledger.Checkpoint, error) {
	cp, err := ledger.OpenCheckpoint(signed, vaultDID)
	if err != nil {
		return nil, &trove.Error{Code: trove.EFORBIDDEN, Reason: "bad_checkpoint", Message: "the vault's checkpoint does not verify", Err: err}
	}
	if err := r.checkRetired(vaultDID, cp); err != nil {
		return nil, err
	}
	name := filepath.Join("checkpoints", fileSafe(vaultDID)+".txt")
	old, err := os.ReadFile(filepath.Join(r.home, name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err == nil {
		prev, err := ledger.OpenCheckpoint(old, vaultDID)
		if err != nil {
			return nil, fmt.Errorf("kept checkpoint: %w", err)
		}
		if err := checkExtends(ctx, c, prev, cp); err != nil {
			return nil, err
		}
		if cp.Size == prev.Size {
			return cp, nil
		}
	}
	return cp, r.saveFile(name, signed)
}

// CheckOlderCheckpoint checks a signed checkpoint that may be older than
// the one kept from vaultDID (as a receipt's is, once more runs
// followed): an older one must be a prefix of the kept tree (the vault
// proves it with a consistency proof); a newer one is kept as by
// KeepCheckpoint.
func (r *Requester) CheckOlderCheckpoint(ctx context.Context, c *api.Client, vaultDID string, signed []byte) (*ledger.Checkpoint, error) {
	cp, err := ledger.OpenCheckpoint(signed, vaultDID)
	if err != nil {
		return nil, &trove.Error{Code: trove.EFORBIDDEN, Reason: "bad_checkpoint", Message: "the vault's checkpoint does not verify", Err: err}
	}
	old, err := os.ReadFile(filepath.Join(r.home, "checkpoints", fileSafe(vaultDID)+".txt"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err == nil {
		kept, err := ledger.OpenCheckpoint(old, vaultDID)
		if err != nil {
			return nil, fmt.Errorf("kept checkpoint: %w", err)
		}
		if cp.Size < kept.Size {
			return cp, checkExtends(ctx, c, cp, kept)
		}
	}
	return r.KeepCheckpoint(ctx, c, vaultDID, signed)
}

// checkExtends checks that the tree of next extends the tree of prev.
func checkExtends(ctx context.Context, c *api.Client, prev, next *ledger.Checkpoint) error {
	switch {
	case next.Size < prev.Size:
		return &trove.Error{Code: trove.EFORBIDDEN, Reason: "log_rewritten", Message: fmt.Sprintf("the vault's log shrank from %d to %d entries", prev.Size, next.Size)}
	case next.Size == prev.Size:
		if string(next.Root) != string(prev.Root) {
			return &trove.Error{Code: trove.EFORBIDDEN, Reason: "log_rewritten", Message: "the vault's log has two different roots for one size"}
		}
		return nil
	}
	p, err := c.ConsistencyProof(ctx, prev.Size, next.Size)
	if err != nil {
		return err
	}
	if err := ledger.VerifyConsistency(prev.Size, next.Size, p.Hashes, prev.Root, next.Root); err != nil {
		return &trove.Error{Code: trove.EFORBIDDEN, Reason: "log_rewritten", Message: "the vault's new checkpoint is not consistent with the one kept", Err: err}
	}
	return nil
}

func (r *Requester) newID() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r.rand, b[:]); err != nil {
		return "", err
	}
	return "req_" + hex.EncodeToString(b[:]), nil
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

func validID(id string) bool { return idPattern.MatchString(id) }

// consentFile names the file of a consent id (a urn:uuid).
func consentFile(id string) string { return fileSafe(id) + ".jwt" }

// fileSafe turns an identifier into a file name.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

func (r *Requester) saveFile(name string, data []byte) error {
	path := filepath.Join(r.home, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return safefile.Write(path, data, 0o600)
}

func (r *Requester) saveJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return r.saveFile(name, append(b, '\n'))
}

func (r *Requester) loadJSON(name string, v any) error {
	b, err := os.ReadFile(filepath.Join(r.home, name))
	if errors.Is(err, os.ErrNotExist) {
		return trove.Errorf(trove.ENOTFOUND, "nothing kept at %s", name)
	} else if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
