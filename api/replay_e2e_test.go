package api_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/internal/sqlitetest"
	"github.com/trove-project/trove/vault"
)

// durable is a vault served with its nonce store, as `trove serve` runs
// it, at addr.
type durable struct {
	vault  *vault.Vault
	nonces *vault.Nonces
	srv    *api.Server
}

func serveDurable(t *testing.T, home, addr string, clk *clock, create bool, nc vault.NoncesConfig) *durable {
	t.Helper()
	ctx := context.Background()
	cfg := vault.Config{Home: home, WorkFactor: 10, Now: clk.Now}
	open := vault.Open
	if create {
		open = vault.Create
	}
	v, err := open(ctx, cfg, []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}
	nc.Home = home
	n, err := vault.OpenNonces(ctx, nc)
	if err != nil {
		v.Close()
		t.Fatal(err)
	}
	srv := api.NewServer(v, addr, nil)
	srv.Now = clk.Now
	srv.SetLimits(api.Limits{PerIP: rate.Inf, PerRequester: rate.Inf})
	srv.SetNonceStore(n)
	if err := srv.Open(); err != nil {
		n.Close()
		v.Close()
		t.Fatal(err)
	}
	d := &durable{vault: v, nonces: n, srv: srv}
	t.Cleanup(d.close)
	return d
}

// close stops the server, then closes the store and the vault; it may be
// called again.
func (d *durable) close() {
	if d.srv == nil {
		return
	}
	d.srv.Close(context.Background())
	d.nonces.Close()
	d.vault.Close()
	d.srv = nil
}

// send sends a signed request as it was captured (method, URL, headers,
// body) and decodes the problem, if any.
func send(t *testing.T, captured *http.Request, body string) (*http.Response, *api.Problem) {
	t.Helper()
	req, err := http.NewRequest(captured.Method, captured.URL.String(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = captured.Header.Clone()
	return (&world{t: t}).do(req)
}

// nonceRows counts the rows of a vault's nonce store, read as anyone
// could.
func nonceRows(t *testing.T, home string) int {
	return sqlitetest.Rows(t, filepath.Join(home, vault.NoncesFile), "nonces")
}

func signed(t *testing.T, method, url, body string, key *did.Key, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := api.SignRequest(req, []byte(body), key, at, (&world{t: t}).nonce()); err != nil {
		t.Fatal(err)
	}
	return req
}

// A signed request accepted before the server and its vault closed is
// refused as a replay by a new server over the reopened vault, on the same
// address (the signature covers it); past the window it is stale, and the
// store has forgotten it.
func TestReplayRefusedAfterRestart(t *testing.T) {
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	home := filepath.Join(t.TempDir(), "vault")
	d := serveDurable(t, home, "127.0.0.1:0", clk, true, vault.NoncesConfig{})
	key, err := did.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(d.srv.URL(), "http://")
	captured := signed(t, "GET", d.srv.URL()+"/v1/challenge", "", key, clk.Now())
	if resp, p := send(t, captured, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("first request: %d %+v", resp.StatusCode, p)
	}
	d.close()

	clk.Advance(time.Minute)
	d = serveDurable(t, home, addr, clk, false, vault.NoncesConfig{})
	resp, p := send(t, captured, "")
	wantProblem(t, resp, p, http.StatusUnauthorized, "replayed_request")
	if resp, p := send(t, signed(t, "GET", d.srv.URL()+"/v1/challenge", "", key, clk.Now()), ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("a fresh request after the restart: %d %+v", resp.StatusCode, p)
	}
	if got := nonceRows(t, home); got != 2 {
		t.Fatalf("%d rows, want 2", got)
	}

	// Past the window: the capture is stale, and once a request comes
	// after both rows expired, they are pruned.
	clk.Advance(2*api.SigWindow + time.Second)
	resp, p = send(t, captured, "")
	wantProblem(t, resp, p, http.StatusUnauthorized, "stale_request")
	if resp, p := send(t, signed(t, "GET", d.srv.URL()+"/v1/jobs/job_none", "", key, clk.Now()), ""); resp.StatusCode != http.StatusNotFound || p == nil {
		t.Fatalf("a read-only request past the window: %d %+v", resp.StatusCode, p)
	}
	if got := nonceRows(t, home); got != 1 {
		t.Fatalf("%d rows after the first two expired, want 1", got)
	}
}

// A store that cannot record refuses the request (503 nonce_store)
// before it reaches its handler, and so is its retry (not taken for a
// replay); once the store records again, the same request goes through
// once.
func TestNonceStoreFailureRefuses(t *testing.T) {
	w := newWorld(t)
	var fail atomic.Bool
	n, err := vault.OpenNonces(w.ctx, vault.NoncesConfig{Home: w.vault.Home(), SQLDriver: sqlitetest.FailingDriver(t, &fail)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	srv := api.NewServer(w.vault, "127.0.0.1:0", nil)
	srv.Now = w.clock.Now
	srv.SetNonceStore(n)
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })

	req := w.request(w.key, "builtin:stats@1", 1, time.Hour)
	token, err := signRequestToken(w, req)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"request":"` + token + `"}`
	captured := signed(t, "POST", srv.URL()+"/v1/consent-requests", body, w.key, w.clock.Now())
	fail.Store(true)
	for range 2 {
		resp, p := send(t, captured, body)
		wantProblem(t, resp, p, http.StatusServiceUnavailable, "nonce_store")
	}
	if _, err := w.vault.ConsentRequest(w.ctx, req.ID); trove.ErrorCode(err) != trove.ENOTFOUND {
		t.Fatalf("a request refused for its nonce reached the vault: %v", err)
	}
	fail.Store(false)
	if resp, p := send(t, captured, body); resp.StatusCode != http.StatusCreated {
		t.Fatalf("once the store records: %d %+v", resp.StatusCode, p)
	}
	resp, p := send(t, captured, body)
	wantProblem(t, resp, p, http.StatusUnauthorized, "replayed_request")
}

// A full store answers 429 with Retry-After, again on a retry (the
// request was not recorded), and takes requests again once rows expire.
func TestNonceStoreFull(t *testing.T) {
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	home := filepath.Join(t.TempDir(), "vault")
	d := serveDurable(t, home, "127.0.0.1:0", clk, true, vault.NoncesConfig{Max: 2})
	key, err := did.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if resp, p := send(t, signed(t, "GET", d.srv.URL()+"/v1/jobs/job_none", "", key, clk.Now()), ""); resp.StatusCode != http.StatusNotFound || p == nil {
			t.Fatalf("%d %+v", resp.StatusCode, p)
		}
	}
	captured := signed(t, "GET", d.srv.URL()+"/v1/challenge", "", key, clk.Now())
	for range 2 {
		resp, p := send(t, captured, "")
		wantProblem(t, resp, p, http.StatusTooManyRequests, "nonce_store_full")
		if resp.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	clk.Advance(2*api.SigWindow + time.Second)
	if resp, p := send(t, signed(t, "GET", d.srv.URL()+"/v1/challenge", "", key, clk.Now()), ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the rows expired: %d %+v", resp.StatusCode, p)
	}
}
