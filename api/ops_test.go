package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/ui"
	"github.com/trove-project/trove/vault"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The metrics count requests by route and read jobs, the queue, the log
// and the budget from the vault; they are served on the owner's UI
// listener, not the public API; the access log is structured and names
// neither ids nor addresses.
func TestMetricsAndAccessLog(t *testing.T) {
	w := newWorld(t)
	var logs syncBuffer
	metrics := api.NewMetrics(w.vault)
	srv := api.NewServer(w.vault, "127.0.0.1:0", slog.New(slog.NewJSONHandler(&logs, nil)))
	srv.SetMetrics(metrics)
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	cred := w.consent("builtin:stats@1", 1, time.Hour)
	if job, err := w.runStats(cred, ""); err != nil || job.State != vault.JobSucceeded {
		t.Fatalf("job: %+v, %v", job, err)
	}
	for _, p := range []string{"/healthz", "/v1/catalog", "/v1/jobs/job_secret123", "/v1//x"} {
		get(t, srv.URL()+p)
	}
	// A method of the client's invention is counted as "other".
	req, err := http.NewRequest("INVENTED", srv.URL()+"/v1/catalog", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	uiSrv, err := ui.NewServer(w.vault, ui.Config{Addr: "127.0.0.1:0", Metrics: metrics.Handler()})
	if err != nil {
		t.Fatal(err)
	}
	if err := uiSrv.Open(); err != nil {
		t.Fatal(err)
	}
	defer uiSrv.Close(context.Background())
	code, text := get(t, uiSrv.URL()+"/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics on the owner listener: %d", code)
	}
	n, err := w.vault.LogSize(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`trove_api_requests_total{code="200",method="GET",route="/healthz"} 1`,
		`trove_api_requests_total{code="401",method="GET",route="/v1/jobs/:id"} 1`,
		`trove_api_requests_total{code="400",method="GET",route="unmatched"} 1`,
		`trove_api_request_duration_seconds_count{route="/v1/catalog"} 2`,
		`trove_api_requests_total{code="404",method="other",route="/v1/catalog"} 1`,
		`trove_jobs{state="succeeded"} 1`,
		`trove_jobs{state="failed"} 0`,
		`trove_job_queue{phase="running"} 0`,
		`trove_job_queue{phase="waiting"} 0`,
		fmt.Sprintf("trove_log_entries %d", n),
		`trove_privacy_budget_spent_epsilon{dataset="` + dsName + `"} 0`,
		"trove_vault_scrape_ok 1",
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if code, _ := get(t, w.srv.URL()+"/metrics"); code != 404 {
		t.Errorf("the public API serves /metrics: %d", code)
	}

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d access log lines, want 5:\n%s", len(lines), logs.String())
	}
	var entry struct {
		Msg, Method, Route string
		Status             int
	}
	if err := json.Unmarshal([]byte(lines[2]), &entry); err != nil {
		t.Fatal(err)
	}
	if entry.Msg != "request" || entry.Method != "GET" || entry.Route != "/v1/jobs/:id" || entry.Status != 401 {
		t.Fatalf("access log entry %s", lines[2])
	}
	for _, secret := range []string{"job_secret123", "127.0.0.1", w.key.DID(), "INVENTED"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the access log holds %q", secret)
		}
	}
}

// A job still running when shutdown's grace ends is stopped and recorded
// as failed; Close returns once it is; the log verifies.
func TestShutdownFailsJobsInFlightCleanly(t *testing.T) {
	w := newWorldWith(t, func(c *vault.Config) {
		c.Compute = compute.DefaultConfig()
		c.Compute.Timeout = 5 * time.Minute
	})
	module := hostile(t)
	h := compute.ModuleHash(module)
	cred := w.consent(h, 1, time.Hour)
	vp := w.present(w.key, cred)
	done := make(chan error, 1)
	go func() {
		_, err := w.client.SubmitJob(w.ctx, api.JobBody{Presentation: vp, Algorithm: h, Module: module, Params: json.RawMessage(`{"mode":"loop"}`)})
		done <- err
	}()
	w.waitForJob(func(j vault.Job) bool { return j.State == vault.JobRunning })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := w.srv.Close(ctx); err == nil {
		t.Fatal("Close reported a clean stop while a job was running past the grace period")
	}
	jobs, err := w.vault.Jobs(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].State != vault.JobFailed || jobs[0].Reason != "canceled" {
		t.Fatalf("after shutdown: %+v", jobs)
	}
	<-done
	if _, err := w.vault.VerifyLog(w.ctx); err != nil {
		t.Fatal(err)
	}
}

// A job in flight when shutdown starts is let finish within the grace
// period: Close waits for it and its requester gets the answer.
func TestShutdownLetsJobsInFlightFinish(t *testing.T) {
	w := newWorldWith(t, func(c *vault.Config) {
		c.Compute = compute.DefaultConfig()
		c.Compute.Timeout = time.Second // the spinning module ends, failed, after a second
	})
	module := hostile(t)
	h := compute.ModuleHash(module)
	cred := w.consent(h, 1, time.Hour)
	vp := w.present(w.key, cred)
	type answer struct {
		job *vault.Job
		err error
	}
	done := make(chan answer, 1)
	go func() {
		job, err := w.client.SubmitJob(w.ctx, api.JobBody{Presentation: vp, Algorithm: h, Module: module, Params: json.RawMessage(`{"mode":"loop"}`)})
		done <- answer{job, err}
	}()
	w.waitForJob(func(j vault.Job) bool { return j.State == vault.JobRunning })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.srv.Close(ctx); err != nil {
		t.Fatalf("Close with time to spare: %v", err)
	}
	a := <-done
	if a.err != nil || a.job.State != vault.JobFailed || a.job.Reason != "timeout" {
		t.Fatalf("the requester got %+v, %v; want its job, failed on its own timeout", a.job, a.err)
	}
}
