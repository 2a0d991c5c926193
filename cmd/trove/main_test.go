package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

// testConfig is a configuration with homes in a temporary directory, a
// passphrase, and a cheap work factor.
func testConfig(t *testing.T) Config {
	dir := t.TempDir()
	return Config{
		Home:          filepath.Join(dir, "vault"),
		RequesterHome: filepath.Join(dir, "requester"),
		Passphrase:    "test passphrase",
		WorkFactor:    10,
		Stdin:         strings.NewReader(""),
	}
}

// run runs the command line and returns its output and exit code.
func run(t *testing.T, cfg Config, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cfg.Stdout, cfg.Stderr = &out, &errOut
	code = Run(context.Background(), args, cfg)
	return out.String(), errOut.String(), code
}

// mustRun runs the command line and fails the test unless it exits 0.
func mustRun(t *testing.T, cfg Config, args ...string) string {
	t.Helper()
	out, errOut, code := run(t, cfg, args...)
	if code != 0 {
		t.Fatalf("trove %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serveVault opens the vault in cfg's home and serves its public API on
// 127.0.0.1, as `trove serve` would, while the test runs the owner's
// commands against the same home.
func serveVault(t *testing.T, cfg Config) (*vault.Vault, *api.Server) {
	t.Helper()
	v, err := vault.Open(context.Background(), vault.Config{Home: cfg.Home}, []byte(cfg.Passphrase))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	srv := api.NewServer(v, "127.0.0.1:0", nil)
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	return v, srv
}

func TestInitImportList(t *testing.T) {
	cfg := testConfig(t)
	out := mustRun(t, cfg, "init")
	if !strings.Contains(out, "did:key:z6Mk") {
		t.Fatalf("init printed %q", out)
	}
	if _, errOut, code := run(t, cfg, "init"); code != exitConflict || !strings.Contains(errOut, "refusing to overwrite") {
		t.Fatalf("second init: exit %d, %q", code, errOut)
	}
	csv := writeFile(t, "h.csv", "age,city\n34,Lyon\n51,Lille\n")
	out = mustRun(t, cfg, "data", "import", "health", csv)
	digest := regexp.MustCompile(`digest ([0-9a-f]{64})`).FindStringSubmatch(out)
	if digest == nil {
		t.Fatalf("import printed no digest: %q", out)
	}
	if out := mustRun(t, cfg, "data", "list"); !strings.Contains(out, "health") || !strings.Contains(out, digest[1]) {
		t.Fatalf("list: %q", out)
	}
	out = mustRun(t, cfg, "data", "import", "typed", csv, "--type", "age=float")
	if !strings.Contains(out, "Imported typed") {
		t.Fatalf("typed import: %q", out)
	}
}

func TestImportRefusesMalformedCSV(t *testing.T) {
	cfg := testConfig(t)
	mustRun(t, cfg, "init")
	bad := writeFile(t, "bad.csv", "a,b\n1,2\n3\n")
	_, errOut, code := run(t, cfg, "data", "import", "d", bad)
	if code != exitInvalid || !strings.Contains(errOut, "line 3") {
		t.Fatalf("malformed import: exit %d, %q", code, errOut)
	}
	if out := mustRun(t, cfg, "data", "list"); !strings.Contains(out, "No datasets") {
		t.Fatalf("something was stored: %q", out)
	}
	if _, errOut, code := run(t, cfg, "data", "import", "d", bad, "--type", "a=decimal"); code != exitInvalid || !strings.Contains(errOut, "decimal") {
		t.Fatalf("bad --type: exit %d, %q", code, errOut)
	}
	if _, _, code := run(t, cfg, "data", "import", "d", filepath.Join(t.TempDir(), "missing.csv")); code != exitInvalid {
		t.Fatalf("missing file: exit %d", code)
	}
}

func TestPassphraseRequired(t *testing.T) {
	cfg := testConfig(t)
	cfg.Passphrase = ""
	_, errOut, code := run(t, cfg, "init")
	if code != exitInvalid || !strings.Contains(errOut, "TROVE_PASSPHRASE") {
		t.Fatalf("init without a passphrase: exit %d, %q", code, errOut)
	}
	cfg.Passphrase = "right"
	mustRun(t, cfg, "init")
	cfg.Passphrase = "wrong"
	if _, errOut, code := run(t, cfg, "data", "list"); code != exitForbidden || !strings.Contains(errOut, "passphrase") {
		t.Fatalf("wrong passphrase: exit %d, %q", code, errOut)
	}
}

func TestMissingVault(t *testing.T) {
	cfg := testConfig(t)
	if _, errOut, code := run(t, cfg, "consent", "list"); code != exitNotFound || !strings.Contains(errOut, "trove init") {
		t.Fatalf("no vault: exit %d, %q", code, errOut)
	}
}

// The whole flow through the command line: the owner's commands against
// the vault's home while `serve` (here in-process) holds it open, and the
// requester's commands over HTTP.
func TestRequesterFlow(t *testing.T) {
	cfg := testConfig(t)
	mustRun(t, cfg, "init")
	mustRun(t, cfg, "data", "import", "health", writeFile(t, "h.csv", "age,weight\n34,70.5\n51,82\n29,61\n"))
	v, srv := serveVault(t, cfg)

	mustRun(t, cfg, "requester", "init")
	if out := mustRun(t, cfg, "request", "catalog", "--vault", srv.URL()); !strings.Contains(out, "Vault "+v.DID()) ||
		!strings.Contains(out, "  health  1-9 rows  ") || !strings.Contains(out, "age int") || !strings.Contains(out, "builtin:stats@1") {
		t.Fatalf("request catalog: %q", out)
	}
	if _, errOut, code := run(t, cfg, "request", "catalog", "--vault", "http://127.0.0.1:1"); code != exitUnavailable {
		t.Fatalf("catalog of no vault: exit %d, %q", code, errOut)
	}
	out := mustRun(t, cfg, "request", "consent", "--vault", srv.URL(), "--dataset", "health",
		"--algorithm", "builtin:stats@1", "--purpose", "research", "--runs", "2", "--price", "100 EUR")
	reqID := regexp.MustCompile(`request (req_[0-9a-f]+)`).FindStringSubmatch(out)
	if reqID == nil {
		t.Fatalf("request consent printed %q", out)
	}
	if out := mustRun(t, cfg, "request", "status", reqID[1]); !strings.Contains(out, "pending") {
		t.Fatalf("status: %q", out)
	}
	if out := mustRun(t, cfg, "consent", "list"); !strings.Contains(out, reqID[1]) {
		t.Fatalf("consent list: %q", out)
	}
	mustRun(t, cfg, "consent", "approve", reqID[1])
	out = mustRun(t, cfg, "request", "status", reqID[1])
	consentID := regexp.MustCompile(`--consent (urn:uuid:[0-9a-f-]+)`).FindStringSubmatch(out)
	if consentID == nil {
		t.Fatalf("status after approval: %q", out)
	}
	outDir := t.TempDir()
	mustRun(t, cfg, "request", "run", "--vault", srv.URL(), "--consent", consentID[1], "--out", outDir)
	for _, f := range []string{"result.json", "receipt.json", "checkpoint.txt", "presentation.jwt", "consent.jwt"} {
		if _, err := os.Stat(filepath.Join(outDir, f)); err != nil {
			t.Errorf("run wrote no %s", f)
		}
	}
	receipt := filepath.Join(outDir, "receipt.json")
	if out := mustRun(t, cfg, "receipt", "verify", receipt, "--vault", v.DID()); !strings.Contains(out, "verifies") {
		t.Fatalf("receipt verify: %q", out)
	}
	b, _ := os.ReadFile(receipt)
	tampered := writeFile(t, "receipt.json", strings.Replace(string(b), `"checkpoint": "`, `"checkpoint": "x`, 1))
	if _, _, code := run(t, cfg, "receipt", "verify", tampered, "--vault", v.DID()); code != exitForbidden {
		t.Fatalf("tampered receipt: exit %d", code)
	}
	// A second run grows the log; the first receipt is then checked
	// offline against the later checkpoint and a consistency proof.
	mustRun(t, cfg, "request", "run", "--vault", srv.URL(), "--consent", consentID[1], "--out", t.TempDir())
	client, err := api.NewClient(srv.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	later, err := client.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, rcp, err := ledger.VerifyReceipt(b, v.DID())
	if err != nil {
		t.Fatal(err)
	}
	lcp, err := ledger.OpenCheckpoint(later, v.DID())
	if err != nil {
		t.Fatal(err)
	}
	proof, err := client.ConsistencyProof(context.Background(), rcp.Size, lcp.Size)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := json.Marshal(proof)
	if err != nil {
		t.Fatal(err)
	}
	laterFile, proofFile := writeFile(t, "later.txt", string(later)), writeFile(t, "proof.json", string(pb))
	if out := mustRun(t, cfg, "receipt", "verify", receipt, "--vault", v.DID(), "--checkpoint", laterFile, "--proof", proofFile); !strings.Contains(out, "not rewritten") {
		t.Fatalf("receipt verify --checkpoint: %q", out)
	}
	proof.Hashes[0][0] ^= 1
	pb, _ = json.Marshal(proof)
	badProof := writeFile(t, "badproof.json", string(pb))
	if _, _, code := run(t, cfg, "receipt", "verify", receipt, "--vault", v.DID(), "--checkpoint", laterFile, "--proof", badProof); code != exitForbidden {
		t.Fatalf("receipt verify with a forged consistency proof: exit %d", code)
	}
	if _, _, code := run(t, cfg, "receipt", "verify", receipt, "--vault", v.DID(), "--checkpoint", laterFile); code == 0 {
		t.Fatal("receipt verify --checkpoint without the needed proof passed")
	}
	out = mustRun(t, cfg, "log", "proof", "1")
	if _, _, err := ledger.VerifyEntryProof([]byte(out), v.DID()); err != nil {
		t.Fatalf("log proof 1 printed %q: %v", out, err)
	}
	if _, _, code := run(t, cfg, "log", "proof", "x"); code == 0 {
		t.Fatal("log proof x passed")
	}
	out = mustRun(t, cfg, "claims", "list")
	ids := regexp.MustCompile(`claim_[0-9a-f]{32}`).FindAllString(out, -1)
	if !strings.Contains(out, "1.00 EUR") || len(ids) != 2 {
		t.Fatalf("claims list: %q", out)
	}
	if out := mustRun(t, cfg, "claims", "ack", ids[0], "--vault", srv.URL()); !strings.Contains(out, "acknowledged") {
		t.Fatalf("claims ack: %q", out)
	}
	if _, _, code := run(t, cfg, "claims", "dispute", ids[1], "--vault", srv.URL()); code == 0 {
		t.Fatal("claims dispute without --reason passed")
	}
	if out := mustRun(t, cfg, "claims", "dispute", ids[1], "--vault", srv.URL(), "--reason", "=SUM(A1) not what I asked for"); !strings.Contains(out, "disputed") {
		t.Fatalf("claims dispute: %q", out)
	}
	out = mustRun(t, cfg, "claims", "list")
	if !regexp.MustCompile(`EUR\s+0\.00 EUR\s+1\.00 EUR\s+1\.00 EUR`).MatchString(out) {
		t.Fatalf("claims list totals (owed 0, acknowledged 1, disputed 1): %q", out)
	}
	if out := mustRun(t, cfg, "claims", "show", ids[1]); !strings.Contains(out, "not what I asked for") || !strings.Contains(out, "disputed") {
		t.Fatalf("claims show: %q", out)
	}
	recs, err := csv.NewReader(strings.NewReader(mustRun(t, cfg, "claims", "export", "--csv"))).ReadAll()
	if err != nil || len(recs) != 3 || recs[0][2] != "amount_minor" {
		t.Fatalf("claims export --csv: %v %v", recs, err)
	}
	for _, rec := range recs[1:] {
		if rec[2] != "100" || (rec[1] == "disputed") != (rec[12] == "'=SUM(A1) not what I asked for") {
			t.Fatalf("CSV row %v", rec)
		}
	}
	if out := mustRun(t, cfg, "log", "verify"); !strings.Contains(out, "verifies") {
		t.Fatalf("log verify: %q", out)
	}
	if out := mustRun(t, cfg, "log", "checkpoint"); !strings.HasPrefix(out, v.DID()+"\n") {
		t.Fatalf("checkpoint: %q", out)
	}
}

func TestDemo(t *testing.T) {
	cfg := testConfig(t)
	dir := filepath.Join(t.TempDir(), "demo")
	out := mustRun(t, cfg, "demo", "--keep", dir)
	for _, want := range []string{"succeeded", "2.50 EUR", "refused (nonce_invalid)", "The vault's log verifies"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	for _, f := range []string{"consent.jwt", "presentation.jwt", "receipt.json", "checkpoint.txt", "result.json", "vault/vault.db", "requester/requester.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("demo kept no %s", f)
		}
	}
	if out := mustRun(t, cfg, "receipt", "verify", filepath.Join(dir, "receipt.json")); !strings.Contains(out, "verifies") {
		t.Fatalf("kept receipt: %q", out)
	}
	if _, errOut, code := run(t, cfg, "demo", "--keep", dir); code != exitConflict {
		t.Fatalf("demo into a used directory: exit %d %q", code, errOut)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
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

func TestDemoServeKeepsServingUntilInterrupted(t *testing.T) {
	cfg := testConfig(t)
	var out syncBuffer
	cfg.Stdout, cfg.Stderr = &out, &out
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"demo", "--serve"}, cfg) }()
	serving := regexp.MustCompile(`keeps serving at (http://127\.0\.0\.1:\d+)`)
	var url string
	deadline := time.Now().Add(2 * time.Minute)
	for url == "" {
		if m := serving.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("demo --serve exited %d before serving:\n%s", code, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo --serve never said it was serving:\n%s", out.String())
		}
	}
	client, err := api.NewClient(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := client.Health(ctx); err != nil || h.Status != "ok" {
		t.Fatalf("health after the demo: %+v, %v", h, err)
	}
	uiURL := regexp.MustCompile(`The owner's UI is at (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(out.String())
	if uiURL == nil {
		t.Fatalf("demo --serve did not print the UI's address:\n%s", out.String())
	}
	// Prometheus metrics on the owner's listener, not the public one.
	resp, err := http.Get(uiURL[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `trove_jobs{state="succeeded"} 1`) {
		t.Fatalf("GET /metrics on the UI: %s\n%s", resp.Status, body)
	}
	if resp, err := http.Get(url + "/metrics"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("GET /metrics on the public API: %v, %v", resp, err)
	} else {
		resp.Body.Close()
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("demo --serve exited %d after an interrupt:\n%s", code, out.String())
	}
}

func TestServeUIAndLoginLink(t *testing.T) {
	cfg := testConfig(t)
	mustRun(t, cfg, "init")
	if _, errOut, code := run(t, cfg, "ui", "--no-open"); code != exitNotFound || !strings.Contains(errOut, "trove serve") {
		t.Fatalf("ui without serve: exit %d, %q", code, errOut)
	}
	if _, errOut, code := run(t, cfg, "serve", "--addr", "127.0.0.1:0", "--ui-addr", "0.0.0.0:0"); code != exitInvalid || !strings.Contains(errOut, "loopback") {
		t.Fatalf("serve with a non-loopback UI: exit %d, %q", code, errOut)
	}
	var out syncBuffer
	scfg := cfg
	scfg.Stdout, scfg.Stderr = &out, &out
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--ui-addr", "127.0.0.1:0"}, scfg) }()
	signIn := regexp.MustCompile(`Sign in \(once\) with: (http://127\.0\.0\.1:\d+/login/\S+)`)
	var link string
	deadline := time.Now().Add(time.Minute)
	for link == "" {
		if m := signIn.FindStringSubmatch(out.String()); m != nil {
			link = m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d:\n%s", code, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve printed no sign-in link:\n%s", out.String())
		}
	}
	if !strings.Contains(out.String(), "Your UI on http://127.0.0.1:") {
		t.Fatalf("serve did not print the UI's URL:\n%s", out.String())
	}
	if got := mustRun(t, cfg, "ui", "--no-open"); !strings.Contains(got, link) {
		t.Fatalf("trove ui printed %q, want the unused link %s", got, link)
	}
	jar, _ := cookiejar.New(nil)
	resp, err := (&http.Client{Jar: jar}).Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %s", resp.Status)
	}
	if got := mustRun(t, cfg, "ui", "--no-open"); strings.Contains(got, link) || !strings.Contains(got, "/login/") {
		t.Fatalf("after a login trove ui printed %q, want a fresh link", got)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d after an interrupt:\n%s", code, out.String())
	}
}
