package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

// The owner rotates with `trove did rotate` while `trove serve` runs: the
// server, holding the old key, refuses to sign; restarted, it serves the
// new DID, and the requester's commands go on with the consent, receipt
// and claims from before.
func TestDIDRotateCommands(t *testing.T) {
	cfg := testConfig(t)
	mustRun(t, cfg, "init")
	mustRun(t, cfg, "data", "import", "health", writeFile(t, "h.csv", "age,weight\n34,70.5\n51,82\n29,61\n"))
	v, srv := serveVault(t, cfg)
	old := v.DID()
	mustRun(t, cfg, "requester", "init")
	out := mustRun(t, cfg, "request", "consent", "--vault", srv.URL(), "--dataset", "health",
		"--algorithm", "builtin:stats@1", "--purpose", "research", "--runs", "5", "--price", "100 EUR")
	reqID := regexp.MustCompile(`request (req_[0-9a-f]+)`).FindStringSubmatch(out)
	if reqID == nil {
		t.Fatalf("request consent printed %q", out)
	}
	mustRun(t, cfg, "consent", "approve", reqID[1])
	consentID := regexp.MustCompile(`--consent (urn:uuid:[0-9a-f-]+)`).FindStringSubmatch(mustRun(t, cfg, "request", "status", reqID[1]))
	if consentID == nil {
		t.Fatal("no consent after approval")
	}
	before := t.TempDir()
	mustRun(t, cfg, "request", "run", "--vault", srv.URL(), "--consent", consentID[1], "--out", before)
	if out := mustRun(t, cfg, "did", "show"); !strings.Contains(out, "DID: "+old) || !strings.Contains(out, "never rotated") {
		t.Fatalf("did show before: %q", out)
	}

	wrong := cfg
	wrong.Passphrase = "not the passphrase"
	if _, errOut, code := run(t, wrong, "did", "rotate"); code != exitForbidden || !strings.Contains(errOut, "passphrase") {
		t.Fatalf("did rotate with the wrong passphrase: exit %d, %q", code, errOut)
	}
	out = mustRun(t, cfg, "did", "rotate")
	m := regexp.MustCompile(`Old DID: (\S+)\nNew DID: (\S+)\n`).FindStringSubmatch(out)
	if m == nil || m[1] != old || m[2] == old || !strings.Contains(out, "1 dataset key(s) sealed anew") || !strings.Contains(out, "Restart `trove serve`") {
		t.Fatalf("did rotate: %q", out)
	}
	newDID := m[2]

	// The server still holds the old key: it refuses to sign.
	_, errOut, code := run(t, cfg, "request", "run", "--vault", srv.URL(), "--consent", consentID[1], "--out", t.TempDir())
	if code != exitUnavailable || !strings.Contains(errOut, "rotated") {
		t.Fatalf("run on the server holding the old key: exit %d, %q", code, errOut)
	}
	srv.Close(context.Background())
	v.Close()
	v, srv = serveVault(t, cfg)
	if v.DID() != newDID {
		t.Fatalf("restarted as %s, want %s", v.DID(), newDID)
	}

	after := t.TempDir()
	mustRun(t, cfg, "request", "run", "--vault", srv.URL(), "--consent", consentID[1], "--out", after)
	if out := mustRun(t, cfg, "receipt", "verify", filepath.Join(before, "receipt.json"), "--vault", old); !strings.Contains(out, "verifies") {
		t.Fatalf("receipt from before with the old DID: %q", out)
	}
	if out := mustRun(t, cfg, "receipt", "verify", filepath.Join(after, "receipt.json"), "--vault", newDID); !strings.Contains(out, "verifies") {
		t.Fatalf("receipt from after with the new DID: %q", out)
	}
	ids := regexp.MustCompile(`claim_[0-9a-f]{32}`).FindAllString(mustRun(t, cfg, "claims", "list"), -1)
	if len(ids) != 2 {
		t.Fatalf("claims: %v", ids)
	}
	for _, id := range ids {
		if out := mustRun(t, cfg, "claims", "ack", id, "--vault", srv.URL()); !strings.Contains(out, "acknowledged") {
			t.Fatalf("claims ack %s: %q", id, out)
		}
	}
	var info didInfo
	if err := json.Unmarshal([]byte(mustRun(t, cfg, "did", "show", "--json")), &info); err != nil {
		t.Fatal(err)
	}
	if info.DID != newDID || !slices.Equal(info.Earlier, []string{old}) || len(info.Rotations) != 1 ||
		info.Rotations[0].Old != old || info.Rotations[0].New != newDID {
		t.Fatalf("did show --json: %+v", info)
	}
	if out := mustRun(t, cfg, "did", "show"); !strings.Contains(out, "from "+old) || !strings.Contains(out, "to   "+newDID) {
		t.Fatalf("did show after: %q", out)
	}
	if out := mustRun(t, cfg, "log", "verify"); !strings.Contains(out, "verifies") {
		t.Fatalf("log verify: %q", out)
	}
}

// `trove did rotate` runs as a subprocess and is killed with SIGKILL at
// points spread over its run, again and again on the same vault. Every
// time, the vault then opens as its DID before or as that DID's
// successor, with no side key or temporary file left, its log verifies,
// and the consent approved at the start runs a job on the dataset (whose
// key the rotations seal anew) with a receipt by the DID the vault now
// has.
func TestRotateSurvivesKill(t *testing.T) {
	bin := buildTrove(t)
	ctx := context.Background()
	home, pass := filepath.Join(t.TempDir(), "vault"), "rotation kill test"
	// A work factor high enough that the command's run is long enough to
	// cut at many points, low enough to keep the test short.
	const workFactor = 13
	key, credential, prev := approvedVault(t, home, pass, workFactor)

	rotate := func() *exec.Cmd {
		cmd := exec.Command(bin, "did", "rotate")
		cmd.Env = append(os.Environ(), "TROVE_HOME="+home, "TROVE_PASSPHRASE="+pass)
		return cmd
	}
	check := func(cut time.Duration) bool {
		t.Helper()
		v, err := vault.Open(ctx, vault.Config{Home: home}, []byte(pass))
		if err != nil {
			t.Fatalf("open after a kill at %v: %v", cut, err)
		}
		defer v.Close()
		dids := v.OwnerDIDs()
		rotated := v.DID() != prev
		if rotated && (len(dids) < 2 || dids[1] != prev) {
			t.Fatalf("after a kill at %v the vault is %s, neither %s nor its successor (%v)", cut, v.DID(), prev, dids)
		}
		entries, err := os.ReadDir(home)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".tmp-") || e.Name() == vault.NextKeyFile {
				t.Fatalf("after a kill at %v, %s is left in the home", cut, e.Name())
			}
		}
		if _, err := v.VerifyLog(ctx); err != nil {
			t.Fatalf("log after a kill at %v: %v", cut, err)
		}
		nonce, _, err := v.Challenge(ctx)
		if err != nil {
			t.Fatal(err)
		}
		vp, err := consent.Present(key, credential, nonce, v.DID(), time.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		job, err := v.RunJob(ctx, vault.JobRequest{Presentation: vp, Algorithm: "builtin:stats@1"})
		if err != nil || job.State != vault.JobSucceeded {
			t.Fatalf("job after a kill at %v: %+v, %v", cut, job, err)
		}
		if rc, _, err := ledger.VerifyReceipt(job.Receipt, v.DID()); err != nil || rc.Vault != v.DID() {
			t.Fatalf("receipt after a kill at %v: %v", cut, err)
		}
		prev = v.DID()
		return rotated
	}
	// Uncut runs give the length of a run (the longest of three: the
	// machine is shared).
	var full time.Duration
	for range 3 {
		start := time.Now()
		if out, err := rotate().CombinedOutput(); err != nil {
			t.Fatalf("trove did rotate: %v\n%s", err, out)
		}
		full = max(full, time.Since(start))
		if !check(0) {
			t.Fatal("an uncut run did not rotate")
		}
	}
	// Four cuts over the start of the run (process start, unsealing), then
	// sixteen over its end, where the side key is written, the rotation
	// commits and the key file is replaced, to past the end of an uncut run.
	var cuts []time.Duration
	for i := range 4 {
		cuts = append(cuts, time.Duration(float64(full)*0.5*float64(i)/4))
	}
	for i := range 16 {
		cuts = append(cuts, time.Duration(float64(full)*(0.5+1.5*float64(i)/15)))
	}
	var done, undone int
	for _, cut := range cuts {
		cmd := rotate()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(cut)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if check(cut) {
			done++
		} else {
			undone++
		}
	}
	t.Logf("uncut run %v; %d kills left the rotation done, %d undone", full, done, undone)
	if done == 0 || undone == 0 {
		t.Fatalf("%d kills completed the rotation and %d undid it: the cuts did not spread over the run", done, undone)
	}
}
