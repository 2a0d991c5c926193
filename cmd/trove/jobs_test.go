package main

import (
	"strings"
	"testing"
)

func TestDataPrivacyAndJobs(t *testing.T) {
	cfg := testConfig(t)
	mustRun(t, cfg, "init")
	mustRun(t, cfg, "data", "import", "health", writeFile(t, "h.csv", "age,city\n34,Lyon\n51,Lille\n"))
	out := mustRun(t, cfg, "data", "privacy", "health", "--policy", "dp", "--job-epsilon", "0.5", "--epsilon", "2", "--delta", "1e-5")
	if !strings.Contains(out, "policy dp (ε 0.5, δ 1e-06 per job)") || !strings.Contains(out, "left ε 2") {
		t.Fatalf("privacy printed %q", out)
	}
	if out := mustRun(t, cfg, "data", "list"); !strings.Contains(out, "dp") || !strings.Contains(out, "0/2") {
		t.Fatalf("list: %q", out)
	}
	if _, errOut, code := run(t, cfg, "data", "privacy", "health", "--policy", "publish"); code == 0 || !strings.Contains(errOut, "unknown kind") {
		t.Fatalf("bad policy: exit %d, %q", code, errOut)
	}
	if out := mustRun(t, cfg, "jobs", "list"); !strings.Contains(out, "No jobs yet") {
		t.Fatalf("jobs list: %q", out)
	}
	if _, errOut, code := run(t, cfg, "jobs", "release", "job_nope"); code != exitNotFound {
		t.Fatalf("release of no job: exit %d, %q", code, errOut)
	}
}
