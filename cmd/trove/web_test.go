package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/internal/webtest"
	"github.com/trove-project/trove/vault"
)

// serveWebVault initializes a vault in cfg's home with a dataset and
// serves it at its own domain, a 127.0.0.1 port, whose did:web it
// returns with the server.
func serveWebVault(t *testing.T, cfg Config) (*vault.Vault, *api.Server, string) {
	t.Helper()
	mustRun(t, cfg, "init")
	mustRun(t, cfg, "data", "import", "health", writeFile(t, "h.csv", "age,city\n34,Lyon\n51,Lille\n"))
	addr := webtest.Addr(t)
	v, err := vault.Open(context.Background(), vault.Config{Home: cfg.Home, WebHost: addr}, []byte(cfg.Passphrase))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	srv := api.NewServer(v, addr, nil)
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	return v, srv, webtest.DID(t, addr)
}

// `--vault-did did:web:HOST` verifies the vault's did:web before a
// consent request is sent, and `request status` says it; a vault the
// did:web does not vouch for, a did:key given, or a document over plain
// HTTP without the test switch are refused, each with its exit code.
func TestRequestVaultDID(t *testing.T) {
	cfg := testConfig(t)
	cfg.WebLoopbackHTTP = true
	v, srv, webDID := serveWebVault(t, cfg)
	mustRun(t, cfg, "requester", "init")
	consentArgs := func(url, vaultDID string) []string {
		return []string{"request", "consent", "--vault", url, "--vault-did", vaultDID, "--dataset", "health",
			"--algorithm", "builtin:stats@1", "--purpose", "research", "--purpose-code", "research"}
	}

	out := mustRun(t, cfg, "request", "catalog", "--vault", srv.URL(), "--vault-did", webDID)
	if !strings.Contains(out, "Verified as "+webDID) {
		t.Fatalf("catalog --vault-did: %q", out)
	}
	out = mustRun(t, cfg, consentArgs(srv.URL(), webDID)...)
	id := regexp.MustCompile(`request (req_[0-9a-f]+)`).FindStringSubmatch(out)
	if id == nil || !strings.Contains(out, "Verified the vault as "+webDID) {
		t.Fatalf("consent --vault-did: %q", out)
	}
	if out := mustRun(t, cfg, "request", "status", id[1]); !strings.Contains(out, "verified as "+webDID) || !strings.Contains(out, v.DID()) {
		t.Fatalf("status of a request sent with --vault-did: %q", out)
	}

	t.Run("another vault at the URL", func(t *testing.T) {
		// A second vault, without a domain, answers at the URL given: the
		// did:web does not vouch for its did:key.
		other := testConfig(t)
		mustRun(t, other, "init")
		ov, osrv := serveVault(t, other)
		for _, args := range [][]string{consentArgs(osrv.URL(), webDID), {"request", "catalog", "--vault", osrv.URL(), "--vault-did", webDID}} {
			_, errOut, code := run(t, cfg, args...)
			if code != exitForbidden || !strings.Contains(errOut, "does not name the vault's DID") {
				t.Fatalf("%s: exit %d, %q", args[1], code, errOut)
			}
		}
		if got, err := ov.ConsentRequests(context.Background(), ""); err != nil || len(got) != 0 {
			t.Fatalf("%d requests reached the other vault (%v)", len(got), err)
		}
	})
	t.Run("a did:key given", func(t *testing.T) {
		for _, args := range [][]string{consentArgs(srv.URL(), v.DID()), {"request", "catalog", "--vault", srv.URL(), "--vault-did", v.DID()}} {
			if _, errOut, code := run(t, cfg, args...); code != exitInvalid || !strings.Contains(errOut, "not a did:web") {
				t.Fatalf("%s: exit %d, %q", args[1], code, errOut)
			}
		}
	})
	t.Run("plain HTTP without the test switch", func(t *testing.T) {
		plain := cfg
		plain.WebLoopbackHTTP = false
		for _, args := range [][]string{consentArgs(srv.URL(), webDID), {"request", "catalog", "--vault", srv.URL(), "--vault-did", webDID}} {
			if _, errOut, code := run(t, plain, args...); code != exitUnavailable || !strings.Contains(errOut, "cannot fetch the DID document") {
				t.Fatalf("%s: exit %d, %q", args[1], code, errOut)
			}
		}
	})
	if got, err := v.ConsentRequests(context.Background(), ""); err != nil || len(got) != 1 {
		t.Fatalf("the vault has %d requests (%v), want the one verified", len(got), err)
	}
}

// The test switch is read from the environment, and only "1" turns it on.
func TestWebLoopbackHTTPFromEnv(t *testing.T) {
	for value, want := range map[string]bool{"1": true, "": false, "true": false, "0": false} {
		t.Setenv("TROVE_TEST_DID_WEB_LOOPBACK_HTTP", value)
		if got := ConfigFromEnv().WebLoopbackHTTP; got != want {
			t.Errorf("%q: %v", value, got)
		}
	}
}
