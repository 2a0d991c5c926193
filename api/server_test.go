package api_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/ledger"
)

// call sends a raw request, signed as the world's requester, and decodes
// a problem, if that is what came back.
func (w *world) call(method, path, contentType, body string) (*http.Response, *api.Problem) {
	w.t.Helper()
	req, err := http.NewRequest(method, w.srv.URL()+path, strings.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if err := api.SignRequest(req, []byte(body), w.key, w.clock.Now(), w.nonce()); err != nil {
		w.t.Fatal(err)
	}
	return w.do(req)
}

// nonce returns a fresh request nonce.
func (w *world) nonce() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		w.t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// do sends req and decodes a problem, if that is what came back.
func (w *world) do(req *http.Request) (*http.Response, *api.Problem) {
	w.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Type") != "application/problem+json" {
		return resp, nil
	}
	var p api.Problem
	if err := json.Unmarshal(b, &p); err != nil {
		w.t.Fatalf("problem body %q: %v", b, err)
	}
	return resp, &p
}

func TestProblemsForBadRequests(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		name, method, path, body string
		status                   int
		typ                      string
	}{
		{"unknown route", "GET", "/v1/nothing", "", 404, "not_found"},
		{"wrong method", "DELETE", "/v1/catalog", "", 404, "not_found"},
		{"unknown job", "GET", "/v1/jobs/job_00", "", 404, "not_found"},
		{"unknown request", "GET", "/v1/consent-requests/nope", "", 404, "not_found"},
		{"unknown claim", "GET", "/v1/claims/nope", "", 404, "not_found"},
		{"unknown field", "POST", "/v1/consent-requests", `{"request":"x","extra":1}`, 400, "invalid"},
		{"not json", "POST", "/v1/consent-requests", `{`, 400, "invalid"},
		{"two documents", "POST", "/v1/consent-requests", `{"request":"x"}{}`, 400, "invalid"},
		{"bad request token", "POST", "/v1/consent-requests", `{"request":"a.b.c"}`, 400, "invalid"},
		{"oversized request", "POST", "/v1/consent-requests", `{"request":"` + strings.Repeat("a", api.MaxSmallBody) + `"}`, 413, "too_large"},
		{"bad presentation", "POST", "/v1/jobs", `{"presentation":"x","algorithm":"builtin:stats@1"}`, 403, "forbidden"},
		{"proof without size", "GET", "/v1/log/proof/inclusion?index=0", "", 400, "invalid"},
		{"proof past the log", "GET", "/v1/log/proof/inclusion?index=0&size=99", "", 400, "invalid"},
		{"negative index", "GET", "/v1/log/proof/inclusion?index=-1&size=1", "", 400, "invalid"},
		{"entry index not a number", "GET", "/v1/log/entries/abc", "", 400, "invalid"},
		{"entry index negative", "GET", "/v1/log/entries/-1", "", 400, "invalid"},
		{"entry past the log", "GET", "/v1/log/entries/999999", "", 404, "not_found"},
		{"consistency backwards", "GET", "/v1/log/proof/consistency?from=1&to=0", "", 400, "invalid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, p := w.call(tc.method, tc.path, "application/json", tc.body)
			if resp.StatusCode != tc.status || p == nil {
				t.Fatalf("status %d, problem %v; want %d with a problem", resp.StatusCode, p, tc.status)
			}
			if p.Type != api.ProblemTypeBase+tc.typ || p.Status != tc.status || p.Title == "" {
				t.Fatalf("problem %+v", p)
			}
		})
	}
}

func TestCatalogShowsNoValues(t *testing.T) {
	w := newWorld(t)
	cat, err := w.client.Catalog(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cat.Vault != w.vault.DID() || len(cat.Datasets) != 1 {
		t.Fatalf("catalog %+v", cat)
	}
	d := cat.Datasets[0]
	if d.Digest != w.digest || d.Rows != "100-999" || len(d.Schema) != 31 {
		t.Fatalf("dataset %+v", d)
	}
	found := false
	for _, a := range cat.Algorithms {
		found = found || a == "builtin:stats@1"
	}
	if !found {
		t.Fatalf("algorithms %v", cat.Algorithms)
	}
}

func TestHealthAndCheckpoint(t *testing.T) {
	w := newWorld(t)
	h, err := w.client.Health(w.ctx)
	if err != nil || h.Status != "ok" || h.Vault != w.vault.DID() {
		t.Fatalf("health %+v, %v", h, err)
	}
	resp, _ := w.call("GET", "/v1/log/checkpoint", "", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("checkpoint: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	note, err := w.client.Checkpoint(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := ledger.OpenCheckpoint(note, w.vault.DID())
	if err != nil || cp.Size != 1 {
		t.Fatalf("checkpoint after one import: %+v, %v", cp, err)
	}
	p, err := w.client.InclusionProof(w.ctx, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := w.vault.LogEntry(w.ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := ledger.VerifyInclusion(ledger.LeafHash(entry), 0, 1, p.Hashes, cp.Root); err != nil {
		t.Fatal(err)
	}
}
