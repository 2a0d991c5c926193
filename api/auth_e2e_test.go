package api_test

import (
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/vault"
)

// signedRequest returns a request to path signed by key at the world's
// clock with nonce.
func (w *world) signedRequest(method, path, body string, key *did.Key, at time.Time, nonce string) *http.Request {
	w.t.Helper()
	req, err := http.NewRequest(method, w.srv.URL()+path, strings.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	if err := api.SignRequest(req, []byte(body), key, at, nonce); err != nil {
		w.t.Fatal(err)
	}
	return req
}

func wantProblem(t *testing.T, resp *http.Response, p *api.Problem, status int, reason string) {
	t.Helper()
	if resp.StatusCode != status || p == nil || p.Reason != reason {
		t.Fatalf("status %d, problem %+v; want %d with reason %q", resp.StatusCode, p, status, reason)
	}
}

// Every requester endpoint refuses a request that is not signed, or
// signed wrongly, or replayed; public endpoints stay open.
func TestRequesterAuthentication(t *testing.T) {
	w := newWorld(t)
	for _, path := range []string{"/v1/challenge", "/v1/consent-requests/x", "/v1/jobs/x", "/v1/receipts/x", "/v1/claims/x"} {
		resp, p := w.do(mustRequest(t, "GET", w.srv.URL()+path, ""))
		wantProblem(t, resp, p, http.StatusUnauthorized, "bad_request_signature")
	}
	for _, path := range []string{"/v1/catalog", "/v1/status/1", "/v1/log/checkpoint", "/healthz"} {
		if resp, p := w.do(mustRequest(t, "GET", w.srv.URL()+path, "")); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %+v", path, resp.StatusCode, p)
		}
	}

	now := w.clock.Now()
	ok := w.signedRequest("GET", "/v1/challenge", "", w.key, now, "nonce-aaaaaaaaaaaa")
	if resp, p := w.do(ok); resp.StatusCode != http.StatusOK {
		t.Fatalf("signed challenge: %d %+v", resp.StatusCode, p)
	}
	t.Run("replayed", func(t *testing.T) {
		again := w.signedRequest("GET", "/v1/challenge", "", w.key, now, "nonce-aaaaaaaaaaaa")
		resp, p := w.do(again)
		wantProblem(t, resp, p, http.StatusUnauthorized, "replayed_request")
	})
	t.Run("stale", func(t *testing.T) {
		resp, p := w.do(w.signedRequest("GET", "/v1/challenge", "", w.key, now.Add(-6*time.Minute), w.nonce()))
		wantProblem(t, resp, p, http.StatusUnauthorized, "stale_request")
	})
	t.Run("from the future", func(t *testing.T) {
		resp, p := w.do(w.signedRequest("GET", "/v1/challenge", "", w.key, now.Add(6*time.Minute), w.nonce()))
		wantProblem(t, resp, p, http.StatusUnauthorized, "stale_request")
	})
	t.Run("body swapped", func(t *testing.T) {
		req := w.signedRequest("POST", "/v1/consent-requests", `{"request":"a"}`, w.key, now, w.nonce())
		req.Body = http.NoBody
		req.ContentLength = 0
		resp, p := w.do(req)
		wantProblem(t, resp, p, http.StatusUnauthorized, "bad_request_signature")
	})
	t.Run("body and digest swapped", func(t *testing.T) {
		req := w.signedRequest("POST", "/v1/consent-requests", `{"request":"a"}`, w.key, now, w.nonce())
		other := w.signedRequest("POST", "/v1/consent-requests", `{"request":"b"}`, w.key, now, w.nonce())
		other.Header.Set("Signature", req.Header.Get("Signature"))
		other.Header.Set("Signature-Input", req.Header.Get("Signature-Input"))
		resp, p := w.do(other)
		wantProblem(t, resp, p, http.StatusUnauthorized, "bad_request_signature")
	})
	t.Run("path changed", func(t *testing.T) {
		req := w.signedRequest("GET", "/v1/jobs/a", "", w.key, now, w.nonce())
		req.URL.Path = "/v1/jobs/b"
		resp, p := w.do(req)
		wantProblem(t, resp, p, http.StatusUnauthorized, "bad_request_signature")
	})
	t.Run("key substitution", func(t *testing.T) {
		mallory, err := did.Generate(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		req := w.signedRequest("GET", "/v1/challenge", "", mallory, now, w.nonce())
		req.Header.Set("Signature-Input", strings.Replace(req.Header.Get("Signature-Input"), mallory.KeyID(), w.key.KeyID(), 1))
		resp, p := w.do(req)
		wantProblem(t, resp, p, http.StatusUnauthorized, "bad_request_signature")
	})
	t.Run("two signatures", func(t *testing.T) {
		req := w.signedRequest("GET", "/v1/challenge", "", w.key, now, w.nonce())
		req.Header.Add("Signature", req.Header.Get("Signature"))
		resp, p := w.do(req)
		wantProblem(t, resp, p, http.StatusUnauthorized, "bad_request_signature")
	})
}

// A requester sees only its own requests, jobs, receipts and claims, and
// submits only requests and jobs of its own.
func TestRequesterSeesOnlyItsOwn(t *testing.T) {
	w := newWorld(t)
	cred := w.consent("builtin:stats@1", 2, time.Hour)
	job, err := w.client.SubmitJob(w.ctx, apiJob(w.present(w.key, cred)))
	if err != nil {
		t.Fatal(err)
	}
	other, err := did.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	stranger := w.client.As(other, w.clock.Now, nil)
	if _, err := stranger.Job(w.ctx, job.ID); trove.ErrorCode(err) != trove.ENOTFOUND {
		t.Fatalf("another's job: %v", err)
	}
	if _, err := stranger.Claim(w.ctx, job.Claim.ID); trove.ErrorCode(err) != trove.ENOTFOUND {
		t.Fatalf("another's claim: %v", err)
	}
	if _, err := stranger.Receipt(w.ctx, job.Claim.ReceiptID); trove.ErrorCode(err) != trove.ENOTFOUND {
		t.Fatalf("another's receipt: %v", err)
	}
	if _, err := w.client.Receipt(w.ctx, job.Claim.ReceiptID); err != nil {
		t.Fatalf("own receipt: %v", err)
	}
	// Sending someone else's signed consent request, or presentation.
	req := w.request(w.key, "builtin:stats@1", 1, time.Hour)
	token, err := signRequestToken(w, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stranger.SubmitConsentRequest(w.ctx, token); trove.ErrorReason(err) != "not_requester" {
		t.Fatalf("relayed consent request: %v", err)
	}
	_, err = stranger.SubmitJob(w.ctx, apiJob(w.present(w.key, cred)))
	w.expectRefused(err, "holder_not_sender")
}

func mustRequest(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func signRequestToken(w *world, req consent.Request) (string, error) {
	return consent.SignRequest(w.key, req, w.clock.Now())
}

// A vault with a domain serves its did:web document; a resolver finds the
// owner's key in it (plain HTTP allowed for loopback in tests only).
func TestDIDWebDocument(t *testing.T) {
	w := newWorld(t)
	if resp, p := w.do(mustRequest(t, "GET", w.srv.URL()+"/.well-known/did.json", "")); resp.StatusCode != http.StatusNotFound || p == nil {
		t.Fatalf("a vault without a domain: %d", resp.StatusCode)
	}
	v, err := vault.Open(w.ctx, vault.Config{Home: w.vault.Home(), WebHost: "localhost:8470"}, []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	srv := api.NewServer(v, "127.0.0.1:0", nil)
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close(w.ctx)
	id, err := did.WebDID("localhost:8470")
	if err != nil {
		t.Fatal(err)
	}
	// localhost:8470 is reached at the test server's address.
	addr := strings.TrimPrefix(srv.URL(), "http://")
	transport := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	defer transport.CloseIdleConnections()
	r := did.NewResolver(did.ResolverOptions{AllowLoopbackHTTP: true, Transport: transport})
	k, err := r.AssertionKey(w.ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	owner, err := did.PublicKey(w.vault.DID())
	if err != nil || !k.Equal(owner) {
		t.Fatalf("the did:web document's key is not the owner's: %v", err)
	}
}
