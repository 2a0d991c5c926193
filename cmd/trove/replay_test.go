package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/vault"
)

// A signed GET that `trove serve` accepted is refused as a replay by the
// server restarted, on the same address, after the first was killed with
// SIGKILL: the nonce was in the vault home's nonces.db before the request
// was answered.
func TestReplayRefusedAfterKill(t *testing.T) {
	bin := buildTrove(t)
	home, pass := filepath.Join(t.TempDir(), "vault"), "replay test passphrase"
	v, err := vault.Create(context.Background(), vault.Config{Home: home, WorkFactor: 10}, []byte(pass))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	key, err := did.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		t.Fatal(err)
	}
	proc := startVault(t, bin, home, pass)
	captured, err := http.NewRequest("GET", proc.url+"/v1/challenge", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := api.SignRequest(captured, nil, key, time.Now(), hex.EncodeToString(nonce[:])); err != nil {
		t.Fatal(err)
	}
	send := func() (int, string) {
		t.Helper()
		// A new connection each time: the old one died with the server.
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		req, err := http.NewRequest("GET", captured.URL.String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = captured.Header.Clone()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		var p api.Problem
		json.Unmarshal(b, &p)
		return resp.StatusCode, p.Reason
	}
	if code, reason := send(); code != http.StatusOK {
		t.Fatalf("first request: %d %s", code, reason)
	}
	proc.cmd.Process.Signal(syscall.SIGKILL)
	proc.cmd.Wait()

	proc = startVaultAt(t, bin, home, pass, strings.TrimPrefix(proc.url, "http://"))
	if code, reason := send(); code != http.StatusUnauthorized || reason != "replayed_request" {
		t.Fatalf("the replay after a restart: %d %q; want 401 replayed_request", code, reason)
	}
	proc.cmd.Process.Signal(syscall.SIGKILL)
	proc.cmd.Wait()
}
