package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/examples"
	"github.com/trove-project/trove/internal/sampledata"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/requester"
	"github.com/trove-project/trove/vault"
)

// clock is a settable clock shared by the vault and the requester.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// world is one vault served over real HTTP on 127.0.0.1 and one requester
// key, with a shared clock.
type world struct {
	t      *testing.T
	ctx    context.Context
	clock  *clock
	vault  *vault.Vault
	srv    *api.Server
	client *api.Client
	key    *did.Key // the requester's
	digest string
}

const dsName = sampledata.BreastCancerName

func newWorld(t *testing.T) *world { t.Helper(); return newWorldWith(t, nil) }

// newWorldWith is newWorld with the vault's config changed by change.
func newWorldWith(t *testing.T, change func(*vault.Config)) *world {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	cfg := vault.Config{Home: filepath.Join(t.TempDir(), "vault"), WorkFactor: 10, Now: clk.Now}
	if change != nil {
		change(&cfg)
	}
	v, err := vault.Create(ctx, cfg, []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	d, err := v.Import(ctx, dsName, bytes.NewReader(sampledata.BreastCancer()), vault.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(v, "127.0.0.1:0", nil)
	srv.Now = clk.Now
	// The world's clock stands still unless a test moves it, so rate
	// buckets would never refill: the limits have their own tests.
	srv.SetLimits(api.Limits{PerIP: rate.Inf, PerRequester: rate.Inf})
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	client, err := api.NewClient(srv.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := did.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, ctx: ctx, clock: clk, vault: v, srv: srv, client: client.As(key, clk.Now, nil), key: key, digest: d.Digest}
}

// ask sends a consent request signed by signer and returns its id.
func (w *world) ask(signer *did.Key, algorithm string, runs int, validity time.Duration) string {
	w.t.Helper()
	id := w.send(signer, w.request(signer, algorithm, runs, validity))
	if st, err := w.client.ConsentRequest(w.ctx, id); err != nil || st.State != vault.Pending {
		w.t.Fatalf("new request: %+v, %v", st, err)
	}
	return id
}

// request returns the standard request: all columns, research, results
// released, 125 EUR per run.
func (w *world) request(signer *did.Key, algorithm string, runs int, validity time.Duration) consent.Request {
	now := w.clock.Now()
	return consent.Request{
		ID: fmt.Sprintf("req-%d", now.UnixNano()+int64(len(algorithm))+int64(runs)), Requester: signer.DID(),
		Vault: w.vault.DID(), Dataset: dsName, Algorithm: algorithm,
		Purpose: "research", PurposeCode: consent.PurposeResearch, MaxRuns: runs,
		Output: consent.OutputPolicy{Policy: consent.OutputRelease},
		Price:  consent.Money{Amount: 125, Currency: "EUR"}, Per: consent.PerRun,
		ExpiresAt: now.Add(validity), CreatedAt: now,
	}
}

// send signs req with signer, submits it, and returns its id.
func (w *world) send(signer *did.Key, req consent.Request) string {
	w.t.Helper()
	id := req.ID
	now := w.clock.Now()
	token, err := consent.SignRequest(signer, req, now)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.client.As(signer, w.clock.Now, nil).SubmitConsentRequest(w.ctx, token); err != nil {
		w.t.Fatal(err)
	}
	return id
}

// consent asks for and approves a consent, returning the credential.
func (w *world) consent(algorithm string, runs int, validity time.Duration) string {
	w.t.Helper()
	id := w.ask(w.key, algorithm, runs, validity)
	if _, err := w.vault.Approve(w.ctx, id); err != nil {
		w.t.Fatal(err)
	}
	st, err := w.client.ConsentRequest(w.ctx, id)
	if err != nil {
		w.t.Fatal(err)
	}
	if st.State != vault.Approved || st.Credential == "" {
		w.t.Fatalf("approved request: %+v", st)
	}
	return st.Credential
}

// present wraps a credential in a presentation bound to a fresh challenge.
func (w *world) present(holder *did.Key, credential string) string {
	w.t.Helper()
	ch, err := w.client.Challenge(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	if ch.Audience != w.vault.DID() {
		w.t.Fatalf("challenge audience %s", ch.Audience)
	}
	vp, err := consent.Present(holder, credential, ch.Nonce, ch.Audience, w.clock.Now(), 5*time.Minute)
	if err != nil {
		w.t.Fatal(err)
	}
	return vp
}

// rawPresent builds a presentation by hand, without the checks
// consent.Present makes, as an attacker's own code would.
func (w *world) rawPresent(holder *did.Key, credential string) string {
	w.t.Helper()
	ch, err := w.client.Challenge(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	now := w.clock.Now().Unix()
	header, _ := json.Marshal(map[string]string{"alg": "EdDSA", "typ": "JWT", "kid": holder.KeyID()})
	claims, _ := json.Marshal(map[string]any{
		"iss": holder.DID(), "aud": ch.Audience, "nonce": ch.Nonce, "jti": "urn:test:" + ch.Nonce,
		"iat": now, "nbf": now, "exp": now + 300,
		"vp": map[string]any{
			"@context":             []string{"https://www.w3.org/2018/credentials/v1"},
			"type":                 []string{"VerifiablePresentation"},
			"verifiableCredential": []string{credential},
		},
	})
	input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(claims)
	return input + "." + base64.RawURLEncoding.EncodeToString(holder.Sign([]byte(input)))
}

// expectRefused checks that err is a 403 with reason, and that the log's
// newest entry records the refusal with that reason.
func (w *world) expectRefused(err error, reason string) {
	w.t.Helper()
	if trove.ErrorCode(err) != trove.EFORBIDDEN || trove.ErrorReason(err) != reason {
		w.t.Fatalf("got %v (code %s, reason %q); want forbidden, %q", err, trove.ErrorCode(err), trove.ErrorReason(err), reason)
	}
	n, err := w.vault.LogSize(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	b, err := w.vault.LogEntry(w.ctx, n-1)
	if err != nil {
		w.t.Fatal(err)
	}
	e, err := ledger.ParseEntry(b)
	if err != nil {
		w.t.Fatal(err)
	}
	if e.Type != ledger.JobRejected || e.Fields["reason"] != reason {
		w.t.Fatalf("newest log entry %s %v; want a refusal logged with reason %q", e.Type, e.Fields, reason)
	}
}

func TestJobEndToEndWasm(t *testing.T) {
	w := newWorld(t)
	module := examples.ColStats()
	cred := w.consent(compute.ModuleHash(module), 2, time.Hour)
	job, err := w.client.SubmitJob(w.ctx, api.JobBody{Presentation: w.present(w.key, cred), Algorithm: compute.ModuleHash(module), Module: module})
	if err != nil {
		t.Fatal(err)
	}
	if job.State != vault.JobSucceeded {
		t.Fatalf("job %s: %s", job.State, job.Reason)
	}
	var res struct {
		Rows    int `json:"rows"`
		Columns []struct {
			Name string  `json:"name"`
			Mean float64 `json:"mean"`
		} `json:"columns"`
	}
	if err := json.Unmarshal(job.Result, &res); err != nil {
		t.Fatal(err)
	}
	if res.Rows != 569 || len(res.Columns) != 31 || res.Columns[0].Name != "mean_radius" {
		t.Fatalf("result %d rows, %d columns", res.Rows, len(res.Columns))
	}
	// The mean of mean_radius over the 569 rows of the UCI file.
	if m := res.Columns[0].Mean; m < 14.127 || m > 14.128 {
		t.Fatalf("mean_radius mean %v", m)
	}

	rc, cp, err := ledger.VerifyReceipt(job.Receipt, w.vault.DID())
	if err != nil {
		t.Fatalf("receipt does not verify offline: %v", err)
	}
	if rc.JobID != job.ID || rc.DatasetDigest != w.digest || rc.Algorithm != compute.ModuleHash(module) || rc.Requester != w.key.DID() ||
		rc.RowsRead != 569 || rc.ParamsSHA256 != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatalf("receipt claims %+v", rc)
	}
	// The receipt is served again by id, and the claim by its id.
	again, err := w.client.Receipt(w.ctx, rc.ID)
	if err != nil || !bytes.Equal(bytes.TrimSpace(again), bytes.TrimSpace(job.Receipt)) {
		t.Fatalf("GET receipt: %v", err)
	}
	claim, err := w.client.Claim(w.ctx, job.Claim.ID)
	if err != nil {
		t.Fatal(err)
	}
	if claim.Amount != 125 || claim.Currency != "EUR" || claim.ReceiptID != rc.ID || claim.Requester != w.key.DID() {
		t.Fatalf("claim %+v", claim)
	}
	// The published checkpoint verifies and extends the receipt's.
	note, err := w.client.Checkpoint(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := ledger.OpenCheckpoint(note, w.vault.DID())
	if err != nil {
		t.Fatal(err)
	}
	if latest.Size < cp.Size {
		t.Fatalf("latest checkpoint %d < receipt's %d", latest.Size, cp.Size)
	}
	if latest.Size > cp.Size {
		p, err := w.client.ConsistencyProof(w.ctx, cp.Size, latest.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := ledger.VerifyConsistency(cp.Size, latest.Size, p.Hashes, cp.Root, latest.Root); err != nil {
			t.Fatal(err)
		}
	}
	got, err := w.client.Job(w.ctx, job.ID)
	if err != nil || got.State != vault.JobSucceeded || !bytes.Equal(got.Result, job.Result) {
		t.Fatalf("GET job: %+v, %v", got, err)
	}
	if _, err := w.vault.VerifyLog(w.ctx); err != nil {
		t.Fatal(err)
	}
}

func TestJobEndToEndBuiltinWithRequester(t *testing.T) {
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
	if st2, cred, err := r.RequestStatus(w.ctx, w.client, st.ID); err != nil || st2.State != vault.Pending || cred != nil {
		t.Fatalf("status before approval: %+v %v %v", st2, cred, err)
	}
	if _, err := w.vault.Approve(w.ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	st, cred, err := r.RequestStatus(w.ctx, w.client, st.ID)
	if err != nil || cred == nil {
		t.Fatalf("status after approval: %v", err)
	}
	kept, err := r.Credential(cred.ID)
	if err != nil || kept != st.Credential {
		t.Fatalf("kept credential: %v", err)
	}
	for i := range 2 {
		run, err := r.RunJob(w.ctx, w.client, kept, nil, nil)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if !strings.Contains(string(run.Job.Result), `"builtin:stats@1"`) {
			t.Fatalf("result %s", run.Job.Result)
		}
	}
	claims, err := w.vault.Claims(w.ctx)
	if err != nil || len(claims) != 2 {
		t.Fatalf("claims: %d, %v", len(claims), err)
	}
}

func TestRejectsCredentialWithOneByteChanged(t *testing.T) {
	w := newWorld(t)
	cred := w.consent("builtin:stats@1", 5, time.Hour)
	// Raise the allowed runs from 5 to 9: one byte of the signed payload.
	parts := strings.Split(cred, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	altered := bytes.Replace(payload, []byte(`"maxRuns":5`), []byte(`"maxRuns":9`), 1)
	if bytes.Equal(altered, payload) {
		t.Fatalf("no maxRuns in %s", payload)
	}
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString(altered) + "." + parts[2]
	_, err = w.client.SubmitJob(w.ctx, api.JobBody{Presentation: w.rawPresent(w.key, forged), Algorithm: "builtin:stats@1"})
	w.expectRefused(err, "bad_signature")
}

func TestRejectsModuleWhoseHashDiffers(t *testing.T) {
	w := newWorld(t)
	module := examples.ColStats()
	cred := w.consent(compute.ModuleHash(module), 5, time.Hour)
	other := append(append([]byte(nil), module...), 0) // one byte more
	_, err := w.client.SubmitJob(w.ctx, api.JobBody{Presentation: w.present(w.key, cred), Algorithm: compute.ModuleHash(module), Module: other})
	w.expectRefused(err, "algorithm_mismatch")
	// A built-in id instead of the consented module is refused too.
	_, err = w.client.SubmitJob(w.ctx, api.JobBody{Presentation: w.present(w.key, cred), Algorithm: "builtin:stats@1"})
	w.expectRefused(err, "algorithm_mismatch")
}

func TestRejectsReplayedNonce(t *testing.T) {
	w := newWorld(t)
	cred := w.consent("builtin:stats@1", 5, time.Hour)
	vp := w.present(w.key, cred)
	if _, err := w.client.SubmitJob(w.ctx, api.JobBody{Presentation: vp, Algorithm: "builtin:stats@1"}); err != nil {
		t.Fatal(err)
	}
	_, err := w.client.SubmitJob(w.ctx, api.JobBody{Presentation: vp, Algorithm: "builtin:stats@1"})
	w.expectRefused(err, "nonce_invalid")
}

func TestRejectsNonceNotIssuedByVault(t *testing.T) {
	w := newWorld(t)
	cred := w.consent("builtin:stats@1", 5, time.Hour)
	vp, err := consent.Present(w.key, cred, "made-up-nonce", w.vault.DID(), w.clock.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.client.SubmitJob(w.ctx, api.JobBody{Presentation: vp, Algorithm: "builtin:stats@1"})
	w.expectRefused(err, "nonce_invalid")
}

func TestRejectsJobAfterLastRun(t *testing.T) {
	w := newWorld(t)
	cred := w.consent("builtin:stats@1", 1, time.Hour)
	if _, err := w.client.SubmitJob(w.ctx, api.JobBody{Presentation: w.present(w.key, cred), Algorithm: "builtin:stats@1"}); err != nil {
		t.Fatal(err)
	}
	_, err := w.client.SubmitJob(w.ctx, api.JobBody{Presentation: w.present(w.key, cred), Algorithm: "builtin:stats@1"})
	w.expectRefused(err, "runs_exhausted")
}

func TestRacingForTheLastRunExactlyOneRuns(t *testing.T) {
	w := newWorld(t)
	cred := w.consent("builtin:stats@1", 1, time.Hour)
	vps := []string{w.present(w.key, cred), w.present(w.key, cred), w.present(w.key, cred)}
	var wg sync.WaitGroup
	errs := make([]error, len(vps))
	for i, vp := range vps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = w.client.SubmitJob(w.ctx, api.JobBody{Presentation: vp, Algorithm: "builtin:stats@1"})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case trove.ErrorReason(err) != "runs_exhausted":
			t.Errorf("unexpected refusal: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d jobs ran for a single allowed run", ok)
	}
}

func TestRejectsJobAfterExpiry(t *testing.T) {
	w := newWorld(t)
	cred := w.consent("builtin:stats@1", 5, time.Hour)
	w.clock.Advance(2 * time.Hour)
	_, err := w.client.SubmitJob(w.ctx, api.JobBody{Presentation: w.rawPresent(w.key, cred), Algorithm: "builtin:stats@1"})
	w.expectRefused(err, "expired")
}

// A denied request yields no credential; a credential the requester makes
// for itself with the denied terms is refused.
func TestRejectsDeniedRequestUsedAnyway(t *testing.T) {
	w := newWorld(t)
	id := w.ask(w.key, "builtin:stats@1", 5, time.Hour)
	if _, err := w.vault.Deny(w.ctx, id); err != nil {
		t.Fatal(err)
	}
	st, err := w.client.ConsentRequest(w.ctx, id)
	if err != nil || st.State != vault.Denied || st.Credential != "" {
		t.Fatalf("denied request: %+v, %v", st, err)
	}
	if _, err := w.vault.Approve(w.ctx, id); trove.ErrorCode(err) != trove.ECONFLICT {
		t.Fatalf("approving a denied request: %v", err)
	}
	forged, err := consent.Issue(w.key, w.key.DID(), consent.Terms{
		Vault: w.vault.DID(), Dataset: dsName, DatasetDigest: w.digest, Algorithm: "builtin:stats@1",
		Columns: []string{"mean_radius"}, Purpose: "research", PurposeCode: consent.PurposeResearch, MaxRuns: 5,
		Output: consent.OutputPolicy{Policy: consent.OutputRelease}, Price: consent.Money{Amount: 125, Currency: "EUR"}, Per: consent.PerRun,
	}, w.clock.Now(), w.clock.Now().Add(time.Hour), "urn:uuid:00000000-0000-4000-8000-000000000000",
		consent.StatusEntry{ListCredential: w.srv.URL() + "/v1/status/1", Index: 7})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.client.SubmitJob(w.ctx, api.JobBody{Presentation: w.present(w.key, forged), Algorithm: "builtin:stats@1"})
	w.expectRefused(err, "wrong_issuer")
}

func TestRejectsPresentationByAnotherHolder(t *testing.T) {
	w := newWorld(t)
	cred := w.consent("builtin:stats@1", 5, time.Hour)
	thief, err := did.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.client.As(thief, w.clock.Now, nil).SubmitJob(w.ctx, api.JobBody{Presentation: w.rawPresent(thief, cred), Algorithm: "builtin:stats@1"})
	w.expectRefused(err, "holder_not_subject")
}

func TestRejectsAfterReimport(t *testing.T) {
	w := newWorld(t)
	cred := w.consent("builtin:stats@1", 5, time.Hour)
	if err := w.vault.RemoveDataset(w.ctx, dsName); err != nil {
		t.Fatal(err)
	}
	if _, err := w.vault.Import(w.ctx, dsName, strings.NewReader("a,b\n1,2\n"), vault.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := w.client.SubmitJob(w.ctx, api.JobBody{Presentation: w.present(w.key, cred), Algorithm: "builtin:stats@1"})
	w.expectRefused(err, "dataset_changed")
}
