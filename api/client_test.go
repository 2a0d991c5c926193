package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/ledger"
)

// failingReader is a source of randomness that has run dry.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

// A client that cannot make a request nonce fails before sending, and
// says so: it is not the vault that is unavailable.
func TestClientNonceFailureFailsClosed(t *testing.T) {
	w := newWorld(t)
	c, err := api.NewClient(w.srv.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.As(w.key, w.clock.Now, failingReader{}).Challenge(w.ctx)
	if err == nil || trove.ErrorCode(err) == trove.EUNAVAILABLE || !strings.Contains(err.Error(), "request nonce") {
		t.Fatalf("challenge without a nonce: %v", err)
	}
	if _, err := c.As(w.key, w.clock.Now, nil).Challenge(w.ctx); err != nil {
		t.Fatalf("challenge with a nonce: %v", err)
	}
}

// The client, built on the generated one, keeps its own limits on what a
// vault answers: caps on checkpoints, log entries and status lists,
// strict proofs, problems as *trove.Error, and an unreachable vault as
// unavailable.
func TestClientLimitsOnAnswers(t *testing.T) {
	ctx := context.Background()
	var (
		mu    sync.Mutex
		paths []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.RequestURI())
		mu.Unlock()
		switch r.URL.Path {
		case "/v1/log/checkpoint":
			rw.Write([]byte(strings.Repeat("c", 8<<10+1)))
		case "/v1/log/entries/3":
			rw.Write([]byte(strings.Repeat("e", ledger.MaxEntrySize+1)))
		case "/v1/status/one":
			rw.Write([]byte(strings.Repeat("s", consent.MaxTokenSize+1)))
		case "/v1/log/proof/inclusion", "/v1/log/proof/consistency":
			rw.Header().Set("Content-Type", "application/json")
			rw.Write([]byte(`{"index":0,"size":1,"hashes":[],"extra":true}`))
		default:
			rw.Header().Set("Content-Type", "application/problem+json")
			rw.WriteHeader(http.StatusNotFound)
			rw.Write([]byte(`{"type":"` + api.ProblemTypeBase + `not_found","title":"no such job","status":404,"reason":"no_job"}`))
		}
	}))
	defer srv.Close()
	c, err := api.NewClient(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Checkpoint(ctx); trove.ErrorCode(err) != trove.ETOOLARGE {
		t.Errorf("oversized checkpoint: %v", err)
	}
	if _, err := c.LogEntry(ctx, 3); trove.ErrorCode(err) != trove.ETOOLARGE {
		t.Errorf("oversized log entry: %v", err)
	}
	if _, err := c.StatusList(ctx, "one"); trove.ErrorCode(err) != trove.ETOOLARGE {
		t.Errorf("oversized status list: %v", err)
	}
	if _, err := c.InclusionProof(ctx, 3, 9); trove.ErrorReason(err) != "bad_proof" {
		t.Errorf("malformed inclusion proof: %v", err)
	}
	if _, err := c.ConsistencyProof(ctx, 2, 5); trove.ErrorReason(err) != "bad_proof" {
		t.Errorf("malformed consistency proof: %v", err)
	}
	if _, err := c.Job(ctx, "j1"); trove.ErrorCode(err) != trove.ENOTFOUND || trove.ErrorReason(err) != "no_job" {
		t.Errorf("problem: %v", err)
	}
	want := []string{"/v1/log/checkpoint", "/v1/log/entries/3", "/v1/status/one",
		"/v1/log/proof/inclusion?index=3&size=9", "/v1/log/proof/consistency?from=2&to=5", "/v1/jobs/j1"}
	mu.Lock()
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Errorf("requests: %v, want %v", paths, want)
	}
	mu.Unlock()
	srv.Close()
	if _, err := c.Health(ctx); trove.ErrorCode(err) != trove.EUNAVAILABLE {
		t.Errorf("vault gone: %v", err)
	}
}
