package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/examples"
	"github.com/trove-project/trove/internal/sampledata"
	"github.com/trove-project/trove/internal/wasmtest"
	"github.com/trove-project/trove/requester"
	"github.com/trove-project/trove/ui"
	"github.com/trove-project/trove/vault"
)

// world is a vault holding the sample dataset, its public API and its UI
// served on 127.0.0.1, and a requester with its own home.
type world struct {
	t      *testing.T
	ctx    context.Context
	vault  *vault.Vault
	api    *api.Server
	client *api.Client
	ui     *ui.Server
	req    *requester.Requester
	module []byte
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	v, err := vault.Create(ctx, vault.Config{Home: filepath.Join(dir, "vault"), WorkFactor: 10}, []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	if _, err := v.Import(ctx, sampledata.BreastCancerName, bytes.NewReader(sampledata.BreastCancer()), vault.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(v, "127.0.0.1:0", nil)
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	client, err := api.NewClient(srv.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := ui.NewServer(v, ui.Config{Addr: "127.0.0.1:0", LinkFile: filepath.Join(v.Home(), ui.LinkFileName)})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close(context.Background()) })
	r, err := requester.Init(filepath.Join(dir, "requester"), []byte("pass"), requester.Options{WorkFactor: 10})
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, ctx: ctx, vault: v, api: srv, client: client, ui: u, req: r, module: examples.ColStats()}
}

// ask sends a consent request for the colstats module and returns its id.
func (w *world) ask() string {
	w.t.Helper()
	st, err := w.req.RequestConsent(w.ctx, w.client, requester.Ask{
		Dataset: sampledata.BreastCancerName, Algorithm: compute.ModuleHash(w.module),
		Purpose: "Research: summary statistics of tumour measurements", PurposeCode: consent.PurposeResearch, MaxRuns: 3,
		Output: consent.OutputPolicy{Policy: consent.OutputRelease},
		Price:  consent.Money{Amount: 250, Currency: "EUR"}, Per: consent.PerRun, Validity: 7 * 24 * time.Hour,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return st.ID
}

// run fetches the credential for an approved request and runs the module.
func (w *world) run(id string) *requester.Run {
	w.t.Helper()
	st, _, err := w.req.RequestStatus(w.ctx, w.client, id)
	if err != nil {
		w.t.Fatal(err)
	}
	run, err := w.req.RunJob(w.ctx, w.client, st.Credential, w.module, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return run
}

// httpLogin signs in with a plain HTTP client and returns it with the
// session's CSRF token.
func (w *world) httpLogin() (*http.Client, string) {
	w.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(w.ui.LoginLink())
	if err != nil {
		w.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		w.t.Fatalf("login: %s\n%s", resp.Status, body)
	}
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(body)
	if m == nil {
		w.t.Fatalf("no CSRF token on the page after login:\n%s", body)
	}
	return c, string(m[1])
}

// postForm posts a form to the UI and returns the response, not following
// redirects.
func postForm(t *testing.T, c *http.Client, target string, form url.Values, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	nc := *c
	nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := nc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// consentTo sends a consent request for module, approves it in the vault and
// returns the credential.
func (w *world) consentTo(module []byte, runs int) string {
	w.t.Helper()
	return w.consentToAlgorithm(compute.ModuleHash(module), runs)
}

// consentToAlgorithm is consentTo for an algorithm id: a module hash or a
// built-in.
func (w *world) consentToAlgorithm(algorithm string, runs int) string {
	w.t.Helper()
	st, err := w.req.RequestConsent(w.ctx, w.client, requester.Ask{
		Dataset: sampledata.BreastCancerName, Algorithm: algorithm,
		Purpose: "Testing what the owner sees", PurposeCode: consent.PurposeResearch, MaxRuns: runs,
		Output: consent.OutputPolicy{Policy: consent.OutputRelease},
		Price:  consent.Money{Amount: 100, Currency: "EUR"}, Per: consent.PerRun, Validity: 24 * time.Hour,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.vault.Approve(w.ctx, st.ID); err != nil {
		w.t.Fatal(err)
	}
	st, _, err = w.req.RequestStatus(w.ctx, w.client, st.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	return st.Credential
}

// runCredential runs module (nil for a built-in) under credential and
// returns the job as the requester sees it, in whatever state: held,
// failed or released.
func (w *world) runCredential(credential string, module []byte, params string) *vault.Job {
	w.t.Helper()
	var p json.RawMessage
	if params != "" {
		p = json.RawMessage(params)
	}
	run, err := w.req.RunJob(w.ctx, w.client, credential, module, p)
	if run == nil {
		w.t.Fatalf("run: %v", err)
	}
	return run.Job
}

// reviewEveryResult sets the sample dataset's least output policy to
// review.
func (w *world) reviewEveryResult() {
	w.t.Helper()
	if _, err := w.vault.SetPrivacy(w.ctx, sampledata.BreastCancerName, compute.OutputPolicy{Kind: compute.PolicyReview}, 0, 0); err != nil {
		w.t.Fatal(err)
	}
}

// fetchPage fetches a UI page with a signed-in client and returns its status
// and body.
func fetchPage(t *testing.T, c *http.Client, target string) (int, string) {
	t.Helper()
	resp, err := c.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// hostileModule is compute's hostile test module, built once per run.
var hostileModule = sync.OnceValues(func() ([]byte, error) { return wasmtest.Build("../compute/testdata/hostile") })

func hostile(t *testing.T) []byte {
	t.Helper()
	m, err := hostileModule()
	if err != nil {
		t.Fatal(err)
	}
	return m
}
