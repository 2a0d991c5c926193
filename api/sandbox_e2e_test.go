package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/internal/wasmtest"
	"github.com/trove-project/trove/vault"
)

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

// runModule consents to module (runs distinguishes consents made at the
// same instant) and runs it once with params through the HTTP API.
func (w *world) runModule(module []byte, runs int, params string) *vault.Job {
	w.t.Helper()
	h := compute.ModuleHash(module)
	cred := w.consent(h, runs, time.Hour)
	job, err := w.client.SubmitJob(w.ctx, api.JobBody{Presentation: w.present(w.key, cred), Algorithm: h, Module: module, Params: json.RawMessage(params)})
	if err != nil {
		w.t.Fatalf("submit: %v", err)
	}
	return job
}

// Each hostile module runs through the whole job path (consent,
// presentation, HTTP, vault, sandbox, log) and ends with a clear status;
// the vault goes on serving other jobs.
func TestHostileModulesEndWithAClearStatus(t *testing.T) {
	w := newWorldWith(t, func(c *vault.Config) {
		c.Compute = compute.DefaultConfig()
		c.Compute.Timeout = 3 * time.Second // the default 30s would only make the spinning module slower to stop
	})
	module := hostile(t)
	for i, tc := range []struct{ mode, reason string }{
		{"loop", "timeout"},
		{"grow", "module_exit"}, // the Go runtime in the guest runs out of memory at the cap and exits
		{"bomb", "module_exit"},
		{"flood", "output_too_large"},
		{"stderr", "bad_output"},
		{"exit", "module_exit"},
		{"panic", "module_exit"},
		{"garbage", "bad_output"},
		{"trap", "trap"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			job := w.runModule(module, 10+i, `{"mode":"`+tc.mode+`"}`)
			if job.State != vault.JobFailed || job.Reason != tc.reason {
				t.Fatalf("job %s (%s), want failed (%s)", job.State, job.Reason, tc.reason)
			}
			if job.Result != nil || job.Receipt != nil || job.Claim != nil {
				t.Fatalf("a failed job carries a result, receipt or claim: %+v", job)
			}
			got, err := w.client.Job(w.ctx, job.ID)
			if err != nil || got.State != vault.JobFailed || got.Reason != tc.reason {
				t.Fatalf("GET job: %+v, %v", got, err)
			}
		})
	}
	t.Run("stderr kept for the owner", func(t *testing.T) {
		job := w.runModule(module, 30, `{"mode":"stderr"}`)
		stderr, err := w.vault.JobStderr(w.ctx, job.ID)
		if err != nil || len(stderr) != compute.DefaultConfig().MaxStderr {
			t.Fatalf("owner sees %d bytes of stderr (%v), want %d", len(stderr), err, compute.DefaultConfig().MaxStderr)
		}
		raw := getRaw(t, w.srv.URL()+"/v1/jobs/"+job.ID)
		if bytes.Contains(raw, []byte("stderr")) {
			t.Fatalf("the requester's view of the job shows stderr: %s", raw)
		}
	})
	t.Run("escape", func(t *testing.T) {
		job := w.runModule(module, 31, `{"mode":"escape"}`)
		if job.State != vault.JobSucceeded {
			t.Fatalf("job %s (%s)", job.State, job.Reason)
		}
		var got map[string]any
		if err := json.Unmarshal(job.Result, &got); err != nil {
			t.Fatal(err)
		}
		for k, want := range map[string]any{"open_error": true, "readdir_error": true, "dial_error": true, "home": "", "year": 2022.0} {
			if got[k] != want {
				t.Errorf("%s = %v, want %v", k, got[k], want)
			}
		}
		if env, _ := got["environ"].([]any); len(env) != 0 {
			t.Errorf("the module saw an environment: %v", got["environ"])
		}
	})
	t.Run("hand-assembled trap", func(t *testing.T) {
		if job := w.runModule(wasmtest.Trap(), 32, ``); job.State != vault.JobFailed || job.Reason != "trap" {
			t.Fatalf("job %s (%s), want failed (trap)", job.State, job.Reason)
		}
	})
	t.Run("huge module", func(t *testing.T) {
		huge := wasmtest.WithCustomSection(wasmtest.Trap(), compute.DefaultConfig().MaxModuleSize)
		if job := w.runModule(huge, 33, ``); job.State != vault.JobFailed || job.Reason != "invalid_module" {
			t.Fatalf("job %s (%s), want failed (invalid_module)", job.State, job.Reason)
		}
	})
	// After all that, honest jobs run.
	cred := w.consent("builtin:stats@1", 1, time.Hour)
	if job, err := w.client.SubmitJob(w.ctx, api.JobBody{Presentation: w.present(w.key, cred), Algorithm: "builtin:stats@1"}); err != nil || job.State != vault.JobSucceeded {
		t.Fatalf("honest job after the hostile ones: %v, %v", job, err)
	}
	if _, err := w.vault.VerifyLog(w.ctx); err != nil {
		t.Fatal(err)
	}
}

func getRaw(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// When every job slot is taken and no job may wait, a job is refused with
// 429 and Retry-After, before its nonce or a run is used; a requester that
// hangs up stops its job, which is recorded as failed.
func TestBusyVaultAnswers429(t *testing.T) {
	w := newWorldWith(t, func(c *vault.Config) {
		c.Compute = compute.DefaultConfig()
		c.Compute.MaxRunningJobs, c.Compute.MaxWaitingJobs = 1, 0
	})
	module := hostile(t)
	h := compute.ModuleHash(module)
	loopCred := w.consent(h, 1, time.Hour)
	loopVP := w.present(w.key, loopCred)
	ctx, cancel := context.WithCancel(w.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := w.client.SubmitJob(ctx, api.JobBody{Presentation: loopVP, Algorithm: h, Module: module, Params: json.RawMessage(`{"mode":"loop"}`)})
		done <- err
	}()
	loop := w.waitForJob(func(j vault.Job) bool { return j.State == vault.JobRunning })

	statsCred := w.consent("builtin:stats@1", 1, time.Hour)
	body, _ := json.Marshal(api.JobBody{Presentation: w.present(w.key, statsCred), Algorithm: "builtin:stats@1"})
	post := w.signedRequest("POST", "/v1/jobs", string(body), w.key, w.clock.Now(), w.nonce())
	post.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(post)
	if err != nil {
		t.Fatal(err)
	}
	var p api.Problem
	err = json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || p.Reason != "busy" {
		t.Fatalf("busy vault answered %d, Retry-After %q, %+v (%v)", resp.StatusCode, resp.Header.Get("Retry-After"), p, err)
	}
	var jb api.JobBody
	_ = json.Unmarshal(body, &jb)
	if _, err := w.client.SubmitJob(w.ctx, jb); trove.ErrorCode(err) != trove.ETOOMANY || trove.ErrorReason(err) != "busy" {
		t.Fatalf("client sees %v, want too_many (busy)", err)
	}

	cancel()
	if err := <-done; err == nil {
		t.Fatal("the abandoned job returned a result")
	}
	w.waitForJob(func(j vault.Job) bool { return j.ID == loop.ID && j.State == vault.JobFailed && j.Reason == "canceled" })
	// The refused presentation was not used: its nonce and run are still
	// good. The failed job is recorded just before it frees its slot, so
	// the vault may still be busy for a moment: poll.
	deadline := time.Now().Add(30 * time.Second)
	for {
		post = w.signedRequest("POST", "/v1/jobs", string(body), w.key, w.clock.Now(), w.nonce())
		post.Header.Set("Content-Type", "application/json")
		resp, err = http.DefaultClient.Do(post)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("the refused job sent again: %d", resp.StatusCode)
	}
}

// waitForJob polls the owner's job list until a job satisfies ok.
func (w *world) waitForJob(ok func(vault.Job) bool) vault.Job {
	w.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		jobs, err := w.vault.Jobs(w.ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, j := range jobs {
			if ok(j) {
				return j
			}
		}
		<-tick.C
	}
	w.t.Fatal("no job reached the expected state before the deadline")
	return vault.Job{}
}
