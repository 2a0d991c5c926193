package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

// buildTrove builds this command once into a temporary directory.
func buildTrove(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "trove")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// vaultProcess is `trove serve` running as a subprocess.
type vaultProcess struct {
	cmd *exec.Cmd
	url string
}

var publicAPIRE = regexp.MustCompile(`^Public API on (http://\S+)$`)

// startVault runs `trove serve --addr 127.0.0.1:0` on home and waits
// until it prints its URL.
func startVault(t *testing.T, bin, home, pass string) *vaultProcess {
	t.Helper()
	return startVaultAt(t, bin, home, pass, "127.0.0.1:0")
}

// startVaultAt runs `trove serve --addr addr` on home and waits until it
// prints its URL.
func startVaultAt(t *testing.T, bin, home, pass, addr string) *vaultProcess {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--addr", addr, "--ui-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "TROVE_HOME="+home, "TROVE_PASSPHRASE="+pass)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := publicAPIRE.FindStringSubmatch(sc.Text()); m != nil {
			go func() {
				for sc.Scan() { // keep draining so the server never blocks on stdout
				}
			}()
			return &vaultProcess{cmd: cmd, url: m[1]}
		}
	}
	cmd.Wait()
	t.Fatalf("trove serve exited without serving: %s", stderr.String())
	return nil
}

// received is what a client kept of one job: the receipt bundle and
// what it verified of it.
type received struct {
	bundle  []byte
	receipt *ledger.ReceiptClaims
	cp      *ledger.Checkpoint
}

// The vault runs as a subprocess; clients run jobs concurrently; the
// vault is killed with SIGKILL at a seeded random point; it restarts.
// Every receipt any client received is then in the log (same entry, same
// index, consistent with the receipt's checkpoint), the log verifies
// (`trove log verify`), and receipts and claims match one to one.
func TestCrashKeepsEveryReceipt(t *testing.T) {
	bin := buildTrove(t)
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { crashOnce(t, bin, seed) })
	}
}

// approvedVault makes a vault in home, closed once made, with a dataset
// "d" and a consent for builtin:stats@1 on it with runs to spare, and
// returns the requester's key, the consent credential and the vault's
// DID.
func approvedVault(t *testing.T, home, pass string, workFactor int) (*did.Key, string, string) {
	t.Helper()
	ctx := context.Background()
	v, err := vault.Create(ctx, vault.Config{Home: home, WorkFactor: workFactor}, []byte(pass))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Import(ctx, "d", strings.NewReader("x,y\n1,2\n3,5\n8,13\n"), vault.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	key, err := did.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	token, err := consent.SignRequest(key, consent.Request{ID: "req-test", Requester: key.DID(), Vault: v.DID(), Dataset: "d",
		Algorithm: "builtin:stats@1", Purpose: "crash test", PurposeCode: consent.PurposeResearch, MaxRuns: 1000,
		Output: consent.OutputPolicy{Policy: consent.OutputRelease}, Price: consent.Money{Amount: 3, Currency: "EUR"}, Per: consent.PerRun,
		ExpiresAt: now.Add(time.Hour), CreatedAt: now}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.SubmitRequest(ctx, token); err != nil {
		t.Fatal(err)
	}
	approved, err := v.Approve(ctx, "req-test")
	if err != nil {
		t.Fatal(err)
	}
	vaultDID := v.DID()
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	return key, approved.Credential, vaultDID
}

func crashOnce(t *testing.T, bin string, seed uint64) {
	ctx := context.Background()
	rng := mrand.New(mrand.NewPCG(seed, seed))
	home, pass := filepath.Join(t.TempDir(), "vault"), "crash test passphrase"

	key, credential, vaultDID := approvedVault(t, home, pass, 10)

	proc := startVault(t, bin, home, pass)
	client, err := api.NewClient(proc.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Requester endpoints take signed requests.
	client = client.As(key, nil, nil)
	killAfter := 5 + rng.IntN(40) // receipts received before the kill
	const clients = 8
	var (
		mu       sync.Mutex
		got      []received
		killOnce sync.Once
		wg       sync.WaitGroup
	)
	kill := func() { killOnce.Do(func() { proc.cmd.Process.Signal(syscall.SIGKILL) }) }
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ch, err := client.Challenge(ctx)
				if err != nil {
					return // the vault is gone
				}
				vp, err := consent.Present(key, credential, ch.Nonce, ch.Audience, time.Now(), time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				job, err := client.SubmitJob(ctx, api.JobBody{Presentation: vp, Algorithm: "builtin:stats@1"})
				if err != nil {
					return
				}
				rc, cp, err := ledger.VerifyReceipt(job.Receipt, vaultDID)
				if err != nil {
					t.Errorf("receipt from the live vault does not verify: %v", err)
					return
				}
				mu.Lock()
				got = append(got, received{bundle: job.Receipt, receipt: rc, cp: cp})
				n := len(got)
				mu.Unlock()
				if n >= killAfter {
					kill()
				}
			}
		}()
	}
	wg.Wait()
	kill()
	proc.cmd.Wait()
	if len(got) < killAfter {
		t.Fatalf("%d receipts before the vault stopped, want at least %d", len(got), killAfter)
	}

	// Restart: every receipt received is in the log as it was signed.
	proc = startVault(t, bin, home, pass)
	client, err = api.NewClient(proc.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := client.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := ledger.OpenCheckpoint(signed, vaultDID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		var b ledger.Receipt
		if err := json.Unmarshal(r.bundle, &b); err != nil {
			t.Fatal(err)
		}
		entry, err := client.LogEntry(ctx, r.receipt.LogIndex)
		if err != nil {
			t.Fatalf("receipt %s: log entry %d: %v", r.receipt.ID, r.receipt.LogIndex, err)
		}
		if !bytes.Equal(entry, b.Entry) || hex.EncodeToString(ledger.LeafHash(entry)) != r.receipt.LeafHash {
			t.Fatalf("receipt %s: log entry %d is not the one signed", r.receipt.ID, r.receipt.LogIndex)
		}
		p, err := client.InclusionProof(ctx, r.receipt.LogIndex, latest.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := ledger.VerifyInclusion(ledger.LeafHash(entry), r.receipt.LogIndex, latest.Size, p.Hashes, latest.Root); err != nil {
			t.Fatalf("receipt %s after restart: %v", r.receipt.ID, err)
		}
		cp, err := client.ConsistencyProof(ctx, r.cp.Size, latest.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := ledger.VerifyConsistency(r.cp.Size, latest.Size, cp.Hashes, r.cp.Root, latest.Root); err != nil {
			t.Fatalf("receipt %s's checkpoint is not a prefix of the restarted log: %v", r.receipt.ID, err)
		}
	}
	proc.cmd.Process.Signal(syscall.SIGKILL)
	proc.cmd.Wait()

	// The log verifies, with the command a user would run.
	verify := exec.Command(bin, "log", "verify")
	verify.Env = append(os.Environ(), "TROVE_HOME="+home, "TROVE_PASSPHRASE="+pass)
	if out, err := verify.CombinedOutput(); err != nil || !strings.Contains(string(out), "verifies") {
		t.Fatalf("trove log verify after the crash: %v\n%s", err, out)
	}

	// Receipts and claims match one to one, in the tables and in the log.
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(home, vault.DatabaseFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for what, q := range map[string]string{
		"claim without receipt":  `SELECT count(*) FROM claims c LEFT JOIN jobs j ON j.receipt_id = c.receipt_id AND j.state = 'succeeded' WHERE j.id IS NULL`,
		"receipt without claim":  `SELECT count(*) FROM jobs j LEFT JOIN claims c ON c.receipt_id = j.receipt_id WHERE j.receipt_id IS NOT NULL AND c.id IS NULL`,
		"output without receipt": `SELECT count(*) FROM jobs WHERE output IS NOT NULL AND receipt_id IS NULL`,
		"job left running":       `SELECT count(*) FROM jobs WHERE state = 'running'`,
	} {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d (%v)", what, n, err)
		}
	}
	rows, err := db.Query(`SELECT entry FROM log_entries ORDER BY idx`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	released, claimed := map[string]bool{}, map[string]bool{}
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		e, err := ledger.ParseEntry(b)
		if err != nil {
			t.Fatal(err)
		}
		switch e.Type {
		case ledger.ResultReleased:
			released[e.Fields["receipt"]] = true
		case ledger.ClaimCreated:
			claimed[e.Fields["receipt_id"]] = true
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(released) != fmt.Sprint(claimed) || len(released) < len(got) {
		t.Fatalf("log: %d receipts released, %d claimed, %d received", len(released), len(claimed), len(got))
	}
	for _, r := range got {
		if !released[r.receipt.ID] {
			t.Fatalf("receipt %s received but not logged", r.receipt.ID)
		}
	}
	var interrupted int
	if err := db.QueryRow(`SELECT count(*) FROM jobs WHERE reason = 'interrupted'`).Scan(&interrupted); err != nil {
		t.Fatal(err)
	}
	t.Logf("seed %d: killed after %d receipts received; %d released in the log; %d jobs interrupted", seed, len(got), len(released), interrupted)
}
