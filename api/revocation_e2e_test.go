package api_test

import (
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/requester"
	"github.com/trove-project/trove/vault"
)

// After the owner revokes a consent, the status list the vault serves has
// its bit set, the requester sees it revoked, and the next job presenting
// it is refused and the refusal logged.
func TestRevokedConsentIsRefusedAndLogged(t *testing.T) {
	w := newWorld(t)
	r, err := requester.Init(filepath.Join(t.TempDir(), "req"), []byte("pass"), requester.Options{WorkFactor: 10, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.RequestConsent(w.ctx, w.client, requester.Ask{
		Dataset: dsName, Algorithm: "builtin:stats@1", Purpose: "research", PurposeCode: consent.PurposeResearch, MaxRuns: 3,
		Output: consent.OutputPolicy{Policy: consent.OutputRelease},
		Price:  consent.Money{Amount: 40, Currency: "USD"}, Per: consent.PerRun, Validity: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.approve(st.ID)
	_, cred, err := r.RequestStatus(w.ctx, w.client, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.CheckStatus(w.ctx, w.client, cred.Raw); err != nil {
		t.Fatalf("status before revocation: %v", err)
	}
	if _, err := r.RunJob(w.ctx, w.client, cred.Raw, nil, nil); err != nil {
		t.Fatalf("job before revocation: %v", err)
	}

	c, err := w.vault.Revoke(w.ctx, cred.ID)
	if err != nil || c.RevokedAt == nil || c.StatusIndex != cred.Status.Index {
		t.Fatalf("revoke: %+v, %v", c, err)
	}
	if _, err := w.vault.Revoke(w.ctx, cred.ID); trove.ErrorCode(err) != trove.ECONFLICT {
		t.Fatalf("revoking twice: %v", err)
	}
	n, _ := w.vault.LogSize(w.ctx)
	b, _ := w.vault.LogEntry(w.ctx, n-1)
	if e, err := ledger.ParseEntry(b); err != nil || e.Type != ledger.ConsentRevoked || e.Fields["consent_id"] != cred.ID {
		t.Fatalf("revocation not logged: %+v, %v", e, err)
	}

	tok, err := w.client.StatusList(w.ctx, vault.StatusListID)
	if err != nil {
		t.Fatal(err)
	}
	l, err := consent.VerifyStatusList(tok, w.clock.Now())
	if err != nil || l.Issuer != w.vault.DID() || l.Bits.Len() != consent.StatusListBits {
		t.Fatalf("status list: %+v, %v", l, err)
	}
	if !errors.Is(l.Check(cred), consent.ErrRevoked) {
		t.Fatal("the served list does not show the revocation")
	}
	if err := r.CheckStatus(w.ctx, w.client, cred.Raw); trove.ErrorReason(err) != "revoked" {
		t.Fatalf("requester's status check: %v", err)
	}
	_, err = r.RunJob(w.ctx, w.client, cred.Raw, nil, nil)
	w.expectRefused(err, "revoked")
}

func TestStatusListEndpoint(t *testing.T) {
	w := newWorld(t)
	resp, err := http.Get(w.srv.URL() + "/v1/status/1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != api.StatusListMediaType || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	if _, err := consent.VerifyStatusList(string(body), w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.client.StatusList(w.ctx, "2"); trove.ErrorCode(err) != trove.ENOTFOUND {
		t.Fatalf("unknown list: %v", err)
	}
}
