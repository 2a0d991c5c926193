package vault_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofrs/flock"
	"github.com/mattn/go-sqlite3"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/requester"
	"github.com/trove-project/trove/vault"
)

// failRotationDriver is go-sqlite3 with a commit hook that turns into a
// rollback the commit of any transaction that records a successor owner
// key (owner_keys row with seq > 0): the rotation's transaction fails to
// commit as it would on a full disk.
const failRotationDriver = "sqlite3_fail_rotation"

func init() {
	sql.Register(failRotationDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		rotating := false
		c.RegisterUpdateHook(func(op int, _, table string, rowid int64) {
			if op == sqlite3.SQLITE_INSERT && table == "owner_keys" && rowid > 0 {
				rotating = true
			}
		})
		c.RegisterRollbackHook(func() { rotating = false })
		c.RegisterCommitHook(func() int {
			if rotating {
				rotating = false
				return 1
			}
			return 0
		})
		return nil
	}})
}

// ask is a consent request the world's requester makes.
var ask = requester.Ask{Dataset: "d", Algorithm: "builtin:stats@1", Purpose: "research",
	PurposeCode: consent.PurposeResearch, Output: consent.OutputPolicy{Policy: consent.OutputRelease}, Per: consent.PerRun,
	MaxRuns: 10, Price: consent.Money{Amount: 7, Currency: "EUR"}, Validity: time.Hour}

// approved asks for and approves one more consent, returning its
// credential.
func (w *world) approved(t *testing.T) string {
	t.Helper()
	st, err := w.requester.RequestConsent(w.ctx, w.client, ask)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.vault.Approve(w.ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	if st, _, err = w.requester.RequestStatus(w.ctx, w.client, st.ID); err != nil {
		t.Fatal(err)
	}
	return st.Credential
}

// Everything issued before a rotation stays honoured after it: a consent
// approved before runs (on the re-sealed dataset) with a receipt and a
// claim by the new DID; the old receipt verifies with the old DID and is
// still served; claims from before and after are acknowledged; a request
// sent before is approved after; a consent revoked before stays refused at
// the vault and at the requester's status check; the log verifies.
func TestRotationKeepsWhatEarlierDIDsIssued(t *testing.T) {
	w := newWorld(t, vault.Config{})
	revokedCred := w.approved(t)
	revoked, err := consent.VerifyCredential(revokedCred, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.vault.Revoke(w.ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	before, err := w.requester.RunJob(w.ctx, w.client, w.credential, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pending, err := w.requester.RequestConsent(w.ctx, w.client, ask)
	if err != nil {
		t.Fatal(err)
	}
	oldDID := w.vault.DID()

	rot, err := w.vault.Rotate(w.ctx, testPass)
	if err != nil {
		t.Fatal(err)
	}
	if rot.Old != oldDID || rot.New != w.vault.DID() || rot.New == oldDID || rot.Datasets != 1 {
		t.Fatalf("rotation %+v, vault now %s", rot, w.vault.DID())
	}
	if dids := w.vault.OwnerDIDs(); !slices.Equal(dids, []string{rot.New, oldDID}) {
		t.Fatalf("owner DIDs %v", dids)
	}
	if _, err := w.vault.VerifyLog(w.ctx); err != nil {
		t.Fatalf("log after rotation: %v", err)
	}

	// The consent approved before runs, with a receipt and a claim by the
	// new DID, on the dataset whose key was sealed anew.
	after, err := w.requester.RunJob(w.ctx, w.client, w.credential, nil, nil)
	if err != nil {
		t.Fatalf("consent approved before the rotation: %v", err)
	}
	if after.Receipt.Vault != rot.New || after.Job.Claim.Vault != rot.New || after.Checkpoint.Origin != rot.New {
		t.Fatalf("receipt by %s, claim by %s, checkpoint by %s; want %s", after.Receipt.Vault, after.Job.Claim.Vault, after.Checkpoint.Origin, rot.New)
	}
	// The receipt from before verifies with the old DID and is still served.
	if _, _, err := ledger.VerifyReceipt(before.Job.Receipt, oldDID); err != nil {
		t.Fatalf("old receipt with the old DID: %v", err)
	}
	served, err := w.requester.Signed(w.client).Receipt(w.ctx, before.Receipt.ID)
	if err != nil || !bytes.Equal(served, before.Job.Receipt) {
		t.Fatalf("old receipt served after rotation: %v", err)
	}
	// Claims from before (by the old DID) and after are acknowledged.
	for _, c := range []*ledger.Claim{before.Job.Claim, after.Job.Claim} {
		acked, err := w.requester.AcknowledgeClaim(w.ctx, w.client, c.ID)
		if err != nil || acked.State != ledger.ClaimStateAcknowledged {
			t.Fatalf("claim %s by %s: %+v, %v", c.ID, c.Vault, acked, err)
		}
	}
	if c, err := w.vault.Claim(w.ctx, before.Job.Claim.ID); err != nil || c.Vault != oldDID {
		t.Fatalf("old claim names %v, %v; want the old DID", c, err)
	}
	// A request sent before, approved after: its credential is by the new
	// DID, accepted through the chain.
	if _, err := w.vault.Approve(w.ctx, pending.ID); err != nil {
		t.Fatal(err)
	}
	st, cred, err := w.requester.RequestStatus(w.ctx, w.client, pending.ID)
	if err != nil || cred.Issuer != rot.New {
		t.Fatalf("request sent before, approved after: %+v, %v", cred, err)
	}
	if _, err := w.requester.RunJob(w.ctx, w.client, st.Credential, nil, nil); err != nil {
		t.Fatalf("consent approved after: %v", err)
	}
	// Revoked before, refused after, at the vault and at the status check
	// (the list is signed by the new DID now).
	if _, err := w.requester.RunJob(w.ctx, w.client, revokedCred, nil, nil); trove.ErrorReason(err) != "revoked" {
		t.Fatalf("revoked consent after rotation: %v", err)
	}
	if err := w.requester.CheckStatus(w.ctx, w.client, revokedCred); trove.ErrorReason(err) != "revoked" {
		t.Fatalf("status of the revoked consent: %v", err)
	}
	if err := w.requester.CheckStatus(w.ctx, w.client, w.credential); err != nil {
		t.Fatalf("status of the consent in force: %v", err)
	}
	if _, err := w.vault.VerifyLog(w.ctx); err != nil {
		t.Fatalf("log at the end: %v", err)
	}
}

// Two rotations chain: the served chain verifies offline from the first
// DID, the log verifies, a consent from the first DID runs under the
// third, and a reopened vault is the third DID.
func TestTwoRotationsChain(t *testing.T) {
	w := newWorld(t, vault.Config{})
	first := w.vault.DID()
	if _, err := w.requester.RunJob(w.ctx, w.client, w.credential, nil, nil); err != nil {
		t.Fatal(err)
	}
	r1, err := w.vault.Rotate(w.ctx, testPass)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.requester.RunJob(w.ctx, w.client, w.credential, nil, nil); err != nil {
		t.Fatal(err)
	}
	r2, err := w.vault.Rotate(w.ctx, testPass)
	if err != nil {
		t.Fatal(err)
	}
	links, err := w.client.Rotations(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ledger.VerifyRotationChain(links, first)
	if err != nil || len(v) != 2 || v[0].Rotation.New != r1.New || v[1].Rotation.Old != r1.New || v[1].Rotation.New != r2.New {
		t.Fatalf("chain: %d links, %v", len(v), err)
	}
	if n, err := w.vault.VerifyLog(w.ctx); err != nil {
		t.Fatalf("log after two rotations (%d entries): %v", n, err)
	}
	run, err := w.requester.RunJob(w.ctx, w.client, w.credential, nil, nil)
	if err != nil || run.Receipt.Vault != r2.New {
		t.Fatalf("first DID's consent under the third: %v", err)
	}
	if got, err := w.requester.Successors(first); err != nil || !slices.Equal(got, []string{r1.New, r2.New}) {
		t.Fatalf("successors of the first DID: %v, %v", got, err)
	}
	home := w.vault.Home()
	w.vault.Close()
	v2, err := vault.Open(w.ctx, vault.Config{Home: home}, testPass)
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if v2.DID() != r2.New || len(v2.OwnerDIDs()) != 3 {
		t.Fatalf("reopened as %s with %v", v2.DID(), v2.OwnerDIDs())
	}
	if _, err := v2.VerifyLog(w.ctx); err != nil {
		t.Fatal(err)
	}
}

// A challenge issued just before a rotation names the old DID: a
// presentation bound to it is refused (wrong_audience); a fresh challenge
// works.
func TestChallengeBeforeRotationIsRefused(t *testing.T) {
	ctx := context.Background()
	v := MustCreate(t, vault.Config{})
	if _, err := v.Import(ctx, "d", strings.NewReader("x\n1\n2\n"), vault.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	key, err := did.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := consent.SignRequest(key, consent.Request{ID: "req-1", Requester: key.DID(), Vault: v.DID(), Dataset: "d",
		Algorithm: "builtin:stats@1", Purpose: "p", PurposeCode: consent.PurposeResearch, MaxRuns: 5,
		Output: consent.OutputPolicy{Policy: consent.OutputRelease}, Price: consent.Money{Amount: 1, Currency: "EUR"}, Per: consent.PerRun,
		ExpiresAt: now.Add(time.Hour), CreatedAt: now}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.SubmitRequest(ctx, tok); err != nil {
		t.Fatal(err)
	}
	r, err := v.Approve(ctx, "req-1")
	if err != nil {
		t.Fatal(err)
	}
	nonce, _, err := v.Challenge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stale, err := consent.Present(key, r.Credential, nonce, v.DID(), now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Rotate(ctx, testPass); err != nil {
		t.Fatal(err)
	}
	if _, err := v.RunJob(ctx, vault.JobRequest{Presentation: stale, Algorithm: "builtin:stats@1"}); trove.ErrorReason(err) != "wrong_audience" {
		t.Fatalf("presentation for the old DID: %v", err)
	}
	nonce, _, err = v.Challenge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := consent.Present(key, r.Credential, nonce, v.DID(), time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	job, err := v.RunJob(ctx, vault.JobRequest{Presentation: fresh, Algorithm: "builtin:stats@1"})
	if err != nil || job.State != vault.JobSucceeded {
		t.Fatalf("fresh challenge: %+v, %v", job, err)
	}
}

// A process still holding the old key (a `trove serve` started before
// `trove did rotate`) refuses to sign after another process rotated:
// writes fail closed with key_rotated, status lists are not signed, and
// nothing it tried is in the log.
func TestStaleProcessRefusesToSign(t *testing.T) {
	w := newWorld(t, vault.Config{})
	other, err := vault.Open(w.ctx, vault.Config{Home: w.vault.Home()}, testPass)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Rotate(w.ctx, testPass); err != nil {
		t.Fatal(err)
	}
	size, err := other.LogSize(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.vault.Challenge(w.ctx); trove.ErrorReason(err) != "key_rotated" || trove.ErrorCode(err) != trove.EUNAVAILABLE {
		t.Fatalf("write by the stale process: %v", err)
	}
	if _, err := w.vault.StatusList(w.ctx, vault.StatusListID); trove.ErrorReason(err) != "key_rotated" {
		t.Fatalf("status list by the stale process: %v", err)
	}
	if _, err := w.requester.RunJob(w.ctx, w.client, w.credential, nil, nil); err == nil {
		t.Fatal("the stale process ran a job")
	}
	if n, err := other.LogSize(w.ctx); err != nil || n != size {
		t.Fatalf("log grew from %d to %d (%v) through the stale process", size, n, err)
	}
	if _, err := other.VerifyLog(w.ctx); err != nil {
		t.Fatal(err)
	}
}

// A rotation whose commit fails: this process cannot tell whether it
// reached the disk (a failed fsync can leave a commit that the next
// opening recovers), so it keeps the side key, writes nothing more
// (rotation_uncertain; jobs refused) and leaves the next Open to settle
// from what the database says — here that the commit did not happen: the
// side key goes, the old DID stays and jobs run as before.
func TestRotationCommitFailureKeepsOldDID(t *testing.T) {
	w := newWorld(t, vault.Config{SQLDriver: failRotationDriver})
	old := w.vault.DID()
	home := w.vault.Home()
	sealed, err := os.ReadFile(filepath.Join(home, vault.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	size, err := w.vault.LogSize(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.vault.Rotate(w.ctx, testPass)
	if trove.ErrorCode(err) != trove.EUNAVAILABLE || trove.ErrorReason(err) != "rotation_uncertain" {
		t.Fatalf("rotation that cannot commit: %v", err)
	}
	if w.vault.DID() != old || len(w.vault.OwnerDIDs()) != 1 {
		t.Fatalf("DID after the failed rotation: %s", w.vault.DID())
	}
	if _, err := os.Stat(filepath.Join(home, vault.NextKeyFile)); err != nil {
		t.Fatalf("the side key is gone before the outcome is known: %v", err)
	}
	if now, err := os.ReadFile(filepath.Join(home, vault.KeyFile)); err != nil || !bytes.Equal(now, sealed) {
		t.Fatalf("owner.key changed: %v", err)
	}
	if _, err := w.requester.RunJob(w.ctx, w.client, w.credential, nil, nil); err == nil {
		t.Fatal("a job ran on a vault that cannot tell which key is its owner's")
	}
	if n, err := w.vault.LogSize(w.ctx); err != nil || n != size {
		t.Fatalf("the log grew from %d to %d (%v)", size, n, err)
	}
	w.vault.Close()
	v, err := vault.Open(w.ctx, vault.Config{Home: home}, testPass)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if v.DID() != old {
		t.Fatalf("reopened as %s, want %s", v.DID(), old)
	}
	if _, err := os.Stat(filepath.Join(home, vault.NextKeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("side key left after the open settled it: %v", err)
	}
	if now, err := os.ReadFile(filepath.Join(home, vault.KeyFile)); err != nil || !bytes.Equal(now, sealed) {
		t.Fatalf("owner.key changed: %v", err)
	}
	links, err := v.Rotations(w.ctx)
	if err != nil || len(links) != 0 {
		t.Fatalf("rotations after the failed one: %d, %v", len(links), err)
	}
	if _, err := v.VerifyLog(w.ctx); err != nil {
		t.Fatal(err)
	}
	run, err := w.requester.RunJob(w.ctx, serveVault(t, v), w.credential, nil, nil)
	if err != nil || run.Receipt.Vault != old {
		t.Fatalf("job after the settled rotation: %v", err)
	}
}

func TestRotateRefusesWrongPassphrase(t *testing.T) {
	v := MustCreate(t, vault.Config{})
	old := v.DID()
	if _, err := v.Rotate(context.Background(), []byte("not it")); trove.ErrorReason(err) != "wrong_passphrase" {
		t.Fatalf("rotate with the wrong passphrase: %v", err)
	}
	if v.DID() != old {
		t.Fatal("rotated anyway")
	}
	if _, err := os.Stat(filepath.Join(v.Home(), vault.NextKeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("side key left: %v", err)
	}
}

// The new key is sealed under the same passphrase at the work factor of
// the key it replaces.
func TestRotatedKeyKeepsWorkFactor(t *testing.T) {
	v := MustCreate(t, vault.Config{})
	rot, err := v.Rotate(context.Background(), testPass)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := os.ReadFile(filepath.Join(v.Home(), vault.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	k, wf, err := did.UnsealWorkFactor(sealed, testPass)
	if err != nil || k.DID() != rot.New || wf != testWorkFactor {
		t.Fatalf("owner.key after rotation: %v, work factor %d, %v", k, wf, err)
	}
}

// After a rotation the did:web document keeps its identifier, lists every
// owner key for assertion (current first), only the current one for
// authentication, and the did:keys as alsoKnownAs (current first).
func TestDIDWebDocumentAfterRotation(t *testing.T) {
	ctx := context.Background()
	v := MustCreate(t, vault.Config{WebHost: "vault.example.org"})
	old := v.DID()
	if _, err := v.Rotate(ctx, testPass); err != nil {
		t.Fatal(err)
	}
	b, err := v.DIDDocument(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ID                 string   `json:"id"`
		AlsoKnownAs        []string `json:"alsoKnownAs"`
		AssertionMethod    []string `json:"assertionMethod"`
		Authentication     []string `json:"authentication"`
		VerificationMethod []struct {
			ID string `json:"id"`
		} `json:"verificationMethod"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	id := "did:web:vault.example.org"
	if doc.ID != id || !slices.Equal(doc.AlsoKnownAs, []string{v.DID(), old}) ||
		!slices.Equal(doc.AssertionMethod, []string{id + "#key-2", id + "#key-1"}) ||
		!slices.Equal(doc.Authentication, []string{id + "#key-2"}) || len(doc.VerificationMethod) != 2 {
		t.Fatalf("document after rotation:\n%s", b)
	}
}

// Crash points of a rotation, as the next Open finds them.
func TestOpenSettlesInterruptedRotation(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (string, string) {
		v := MustCreate(t, vault.Config{})
		if _, err := v.Import(ctx, "d", strings.NewReader("x\n1\n2\n"), vault.ImportOptions{}); err != nil {
			t.Fatal(err)
		}
		home, old := v.Home(), v.DID()
		v.Close()
		return home, old
	}
	sealedKey := func(t *testing.T, pass []byte) []byte {
		k, err := did.Generate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		b, err := did.Seal(k, pass, testWorkFactor)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	open := func(t *testing.T, home string) *vault.Vault {
		v, err := vault.Open(ctx, vault.Config{Home: home}, testPass)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		if _, err := v.VerifyLog(ctx); err != nil {
			t.Fatal(err)
		}
		ds, err := v.Dataset(ctx, "d")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := vault.LoadTable(v, ctx, "d", ds.Digest); err != nil {
			t.Fatalf("dataset after settling: %v", err)
		}
		return v
	}
	noLeftovers := func(t *testing.T, home string) {
		entries, _ := os.ReadDir(home)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".tmp-") || e.Name() == vault.NextKeyFile {
				t.Errorf("left in the home: %s", e.Name())
			}
		}
	}
	t.Run("half-written temporary files", func(t *testing.T) {
		home, old := setup(t)
		for _, name := range []string{".tmp-" + vault.NextKeyFile + "-123", ".tmp-" + vault.KeyFile + "-456"} {
			if err := os.WriteFile(filepath.Join(home, name), []byte("age-encryption.org/v1\n-> scr"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if v := open(t, home); v.DID() != old {
			t.Fatalf("opened as %s", v.DID())
		}
		noLeftovers(t, home)
	})
	t.Run("side key before commit", func(t *testing.T) {
		home, old := setup(t)
		if err := os.WriteFile(filepath.Join(home, vault.NextKeyFile), sealedKey(t, testPass), 0o600); err != nil {
			t.Fatal(err)
		}
		if v := open(t, home); v.DID() != old {
			t.Fatalf("opened as %s", v.DID())
		}
		noLeftovers(t, home)
	})
	t.Run("commit before rename", func(t *testing.T) {
		home, old := setup(t)
		oldSealed, err := os.ReadFile(filepath.Join(home, vault.KeyFile))
		if err != nil {
			t.Fatal(err)
		}
		v, err := vault.Open(ctx, vault.Config{Home: home}, testPass)
		if err != nil {
			t.Fatal(err)
		}
		rot, err := v.Rotate(ctx, testPass)
		if err != nil {
			t.Fatal(err)
		}
		v.Close()
		// Put the files back as they were between the commit and the
		// rename: the new key beside, the old one in place.
		newSealed, err := os.ReadFile(filepath.Join(home, vault.KeyFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, vault.NextKeyFile), newSealed, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, vault.KeyFile), oldSealed, 0o600); err != nil {
			t.Fatal(err)
		}
		if v := open(t, home); v.DID() != rot.New || v.DID() == old {
			t.Fatalf("opened as %s, want %s", v.DID(), rot.New)
		}
		noLeftovers(t, home)
		if b, err := os.ReadFile(filepath.Join(home, vault.KeyFile)); err != nil || !bytes.Equal(b, newSealed) {
			t.Fatalf("owner.key is not the new key: %v", err)
		}
	})
	t.Run("foreign side key", func(t *testing.T) {
		home, _ := setup(t)
		foreign := sealedKey(t, []byte("someone else's passphrase"))
		path := filepath.Join(home, vault.NextKeyFile)
		if err := os.WriteFile(path, foreign, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := vault.Open(ctx, vault.Config{Home: home}, testPass)
		if trove.ErrorReason(err) != "foreign_key_file" || trove.ErrorCode(err) != trove.ECONFLICT {
			t.Fatalf("open with a foreign side key: %v", err)
		}
		if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, foreign) {
			t.Fatalf("the foreign side key was touched: %v", err)
		}
	})
}

// An open while another process holds the key lock (a rotation in
// progress) fails after its context, with key_locked, without touching
// the side key; once the lock is free, the open settles it.
func TestOpenWaitsForKeyLock(t *testing.T) {
	ctx := context.Background()
	v := MustCreate(t, vault.Config{})
	home, old := v.Home(), v.DID()
	v.Close()
	k, err := did.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	side, err := did.Seal(k, testPass, testWorkFactor)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(home, vault.NextKeyFile)
	if err := os.WriteFile(path, side, 0o600); err != nil {
		t.Fatal(err)
	}
	lock := flock.New(filepath.Join(home, vault.KeyLockFile))
	if err := lock.Lock(); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := vault.Open(short, vault.Config{Home: home}, testPass); trove.ErrorReason(err) != "key_locked" || trove.ErrorCode(err) != trove.EUNAVAILABLE {
		t.Fatalf("open while the key is locked: %v", err)
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, side) {
		t.Fatalf("the side key was touched while locked: %v", err)
	}
	// With the lock's own wait bounding it too.
	if _, err := vault.Open(ctx, vault.Config{Home: home, KeyLockWait: 100 * time.Millisecond}, testPass); trove.ErrorReason(err) != "key_locked" {
		t.Fatalf("open past the lock wait: %v", err)
	}
	if err := lock.Unlock(); err != nil {
		t.Fatal(err)
	}
	v, err = vault.Open(ctx, vault.Config{Home: home}, testPass)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if v.DID() != old {
		t.Fatalf("opened as %s", v.DID())
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the uncommitted side key was not removed: %v", err)
	}
}

// Jobs keep running while the key rotates (the rotation starts once jobs
// have run under the old DID, and the test ends once one has run under
// the new); each either succeeds (its receipt by the DID that signed its
// batch) or is refused for a presentation addressed to the retired DID.
// Run with -race.
func TestRotationUnderLoad(t *testing.T) {
	w := newWorld(t, vault.Config{})
	old := w.vault.DID()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	signers := map[string]int{}
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				run, err := w.requester.RunJob(w.ctx, w.client, w.credential, nil, nil)
				if err != nil {
					if r := trove.ErrorReason(err); r != "wrong_audience" {
						t.Errorf("job during rotation: %v", err)
						return
					}
					continue
				}
				mu.Lock()
				signers[run.Receipt.Vault]++
				mu.Unlock()
			}
		}()
	}
	// Polls, with a deadline, until a job has run under did.
	ranUnder := func(did string) bool {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			n := signers[did]
			mu.Unlock()
			if n > 0 {
				return true
			}
		}
		return false
	}
	// Stopped before any return, so that no job outlives the test.
	stopJobs := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopJobs()
	// The rotation starts once jobs run, so it happens under load.
	if !ranUnder(old) {
		t.Fatal("no job ran before the rotation")
	}
	rot, err := w.vault.Rotate(w.ctx, testPass)
	if err != nil {
		t.Fatal(err)
	}
	ranUnder(rot.New)
	stopJobs()
	for s := range signers {
		if s != old && s != rot.New {
			t.Errorf("receipt signed by %s", s)
		}
	}
	if signers[rot.New] == 0 {
		t.Fatalf("no job ran under the new DID: %v", signers)
	}
	if _, err := w.vault.VerifyLog(w.ctx); err != nil {
		t.Fatal(err)
	}
}

// A vault made before key history was kept (no owner_keys table, claims
// without the DID that signed them) is brought up to date when opened:
// its one key is its history, its claims name its DID, and it rotates.
func TestOpenMigratesVaultWithoutKeyHistory(t *testing.T) {
	w := newWorld(t, vault.Config{})
	run, err := w.requester.RunJob(w.ctx, w.client, w.credential, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	home, first := w.vault.Home(), w.vault.DID()
	w.vault.Close()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(home, vault.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TABLE owner_keys`, `ALTER TABLE claims DROP COLUMN vault`, `DELETE FROM migrations WHERE name = 'migrations/0005_owner_keys.sql'`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	v, err := vault.Open(w.ctx, vault.Config{Home: home}, testPass)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if v.DID() != first || !slices.Equal(v.OwnerDIDs(), []string{first}) {
		t.Fatalf("migrated vault: %s, %v", v.DID(), v.OwnerDIDs())
	}
	if c, err := v.Claim(w.ctx, run.Job.Claim.ID); err != nil || c.Vault != first {
		t.Fatalf("claim after migration: %+v, %v", c, err)
	}
	if _, err := v.Rotate(w.ctx, testPass); err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyLog(w.ctx); err != nil {
		t.Fatal(err)
	}
	links, err := v.Rotations(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.VerifyRotationChain(links, first); err != nil {
		t.Fatal(err)
	}
}

// Counter-offers cross a rotation: one made before is answered after (the
// reply is addressed to the DID that made it), one made after on a
// request sent before is verified through the chain; both accepted
// consents are issued by the new DID and run.
func TestCounterOffersAcrossRotation(t *testing.T) {
	w := newWorld(t, vault.Config{})
	before, err := w.requester.RequestConsent(w.ctx, w.client, ask)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.vault.Counter(w.ctx, before.ID, vault.Narrowing{MaxRuns: 2}); err != nil {
		t.Fatal(err)
	}
	later, err := w.requester.RequestConsent(w.ctx, w.client, ask)
	if err != nil {
		t.Fatal(err)
	}
	rot, err := w.vault.Rotate(w.ctx, testPass)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.vault.Counter(w.ctx, later.ID, vault.Narrowing{MaxRuns: 3}); err != nil {
		t.Fatal(err)
	}
	for id, runs := range map[string]int{before.ID: 2, later.ID: 3} {
		st, cred, err := w.requester.AnswerCounter(w.ctx, w.client, id, consent.Accept)
		if err != nil || st.State != vault.Approved || cred.Issuer != rot.New || cred.Terms.MaxRuns != runs {
			t.Fatalf("counter-offer on %s answered across the rotation: %+v, %+v, %v", id, st, cred, err)
		}
		if _, err := w.requester.RunJob(w.ctx, w.client, st.Credential, nil, nil); err != nil {
			t.Fatalf("consent from the counter-offer on %s: %v", id, err)
		}
	}
	if _, err := w.vault.VerifyLog(w.ctx); err != nil {
		t.Fatal(err)
	}
}

// A vault's key rotates at most ledger.MaxRotationLinks times: that many
// make a chain that parses within its limits and verifies, with the log;
// one more is refused (too_many_rotations) before anything changes, since
// a longer chain would be refused by every verifier, the vault's own log
// check among them.
func TestRotationChainLimit(t *testing.T) {
	ctx := context.Background()
	v := MustCreate(t, vault.Config{})
	first := v.DID()
	for range ledger.MaxRotationLinks {
		if _, err := v.Rotate(ctx, testPass); err != nil {
			t.Fatal(err)
		}
	}
	links, err := v.Rotations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ledger.MarshalRotationChain(links)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ledger.ParseRotationChain(b)
	if err != nil {
		t.Fatalf("a chain of %d links (%d bytes): %v", len(links), len(b), err)
	}
	if vr, err := ledger.VerifyRotationChain(parsed, first); err != nil || len(vr) != ledger.MaxRotationLinks {
		t.Fatalf("chain from the first DID: %d links, %v", len(vr), err)
	}
	last, size := v.DID(), mustLogSize(t, v)
	_, err = v.Rotate(ctx, testPass)
	if trove.ErrorCode(err) != trove.ECONFLICT || trove.ErrorReason(err) != "too_many_rotations" {
		t.Fatalf("rotation %d: %v", ledger.MaxRotationLinks+1, err)
	}
	if v.DID() != last || mustLogSize(t, v) != size {
		t.Fatal("the refused rotation changed the vault")
	}
	if _, err := os.Stat(filepath.Join(v.Home(), vault.NextKeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("side key left: %v", err)
	}
	if _, err := v.VerifyLog(ctx); err != nil {
		t.Fatal(err)
	}
}

func mustLogSize(t *testing.T, v *vault.Vault) uint64 {
	t.Helper()
	n, err := v.LogSize(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A reply to a counter-offer verifies if it is addressed to any DID the
// owner has had, whichever comes first, and is refused otherwise: with
// its reason when addressed elsewhere, and when there is no DID at all.
func TestVerifyReplyToAnyOwnerDID(t *testing.T) {
	now := time.Now()
	keys := make([]*did.Key, 3)
	for i := range keys {
		k, err := did.Generate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	requesterKey, old, current := keys[0], keys[1], keys[2]
	token, err := consent.SignReply(requesterKey, &consent.Counter{ID: "counter-1", Vault: old.DID(), Raw: "offer"}, consent.Accept, now)
	if err != nil {
		t.Fatal(err)
	}
	r, err := vault.VerifyReply(token, []string{current.DID(), old.DID()}, now)
	if err != nil || r.Vault != old.DID() || r.Requester != requesterKey.DID() || r.Answer != consent.Accept {
		t.Fatalf("a reply to the earlier DID: %+v, %v", r, err)
	}
	if r, err := vault.VerifyReply(token, []string{current.DID()}, now); r != nil || consent.CodeOf(err) != consent.ErrWrongAudience {
		t.Fatalf("a reply to a DID the owner never had: %+v, %v", r, err)
	}
	if r, err := vault.VerifyReply(token, nil, now); r != nil || err == nil {
		t.Fatalf("no owner DID: %+v, %v", r, err)
	}
}
