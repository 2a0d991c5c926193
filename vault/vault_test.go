package vault_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

// testWorkFactor keeps scrypt cheap in tests; real vaults use the default.
const testWorkFactor = 10

var testPass = []byte("correct horse battery staple")

// Clock is a settable clock for tests.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// MustCreate makes a vault in a temporary home.
func MustCreate(tb testing.TB, cfg vault.Config) *vault.Vault {
	tb.Helper()
	if cfg.Home == "" {
		cfg.Home = filepath.Join(tb.TempDir(), "vault")
	}
	cfg.WorkFactor = testWorkFactor
	v, err := vault.Create(context.Background(), cfg, testPass)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { v.Close() })
	return v
}

// lastEntry returns the newest log entry.
func lastEntry(tb testing.TB, v *vault.Vault) *ledger.Entry {
	tb.Helper()
	ctx := context.Background()
	n, err := v.LogSize(ctx)
	if err != nil || n == 0 {
		tb.Fatalf("log size %d, %v", n, err)
	}
	b, err := v.LogEntry(ctx, n-1)
	if err != nil {
		tb.Fatal(err)
	}
	e, err := ledger.ParseEntry(b)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func TestCreateRefusesToOverwrite(t *testing.T) {
	v := MustCreate(t, vault.Config{})
	_, err := vault.Create(context.Background(), vault.Config{Home: v.Home(), WorkFactor: testWorkFactor}, testPass)
	if trove.ErrorCode(err) != trove.ECONFLICT {
		t.Fatalf("second create: %v, want a conflict", err)
	}
}

func TestOpenChecksPassphrase(t *testing.T) {
	v := MustCreate(t, vault.Config{})
	home, did := v.Home(), v.DID()
	v.Close()
	if _, err := vault.Open(context.Background(), vault.Config{Home: home}, []byte("wrong")); trove.ErrorCode(err) != trove.EUNAUTHORIZED {
		t.Fatalf("open with a wrong passphrase: %v", err)
	}
	v2, err := vault.Open(context.Background(), vault.Config{Home: home}, testPass)
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if v2.DID() != did || !strings.HasPrefix(did, "did:key:z6Mk") {
		t.Fatalf("reopened DID %s, created %s", v2.DID(), did)
	}
	st, err := os.Stat(filepath.Join(home, vault.KeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", st.Mode().Perm(), err)
	}
	key, _ := os.ReadFile(filepath.Join(home, vault.KeyFile))
	if !strings.HasPrefix(string(key), "age-encryption.org/v1") {
		t.Fatalf("the key file is not sealed")
	}
}

func TestOpenMissingVault(t *testing.T) {
	_, err := vault.Open(context.Background(), vault.Config{Home: t.TempDir()}, testPass)
	if trove.ErrorCode(err) != trove.ENOTFOUND {
		t.Fatalf("open of an empty home: %v", err)
	}
}

func TestDatabasePragmas(t *testing.T) {
	v := MustCreate(t, vault.Config{})
	mode, fk, sync, err := vault.Pragmas(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || fk != 1 || sync != 2 {
		t.Fatalf("journal_mode=%s foreign_keys=%d synchronous=%d; want wal, 1, 2 (FULL)", mode, fk, sync)
	}
}

func TestLogVerifiesAndDetectsTampering(t *testing.T) {
	ctx := context.Background()
	v := MustCreate(t, vault.Config{})
	for _, name := range []string{"a", "b", "c"} {
		if _, err := v.Import(ctx, name, strings.NewReader("x,y\n1,2\n3,4\n"), vault.ImportOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := v.VerifyLog(ctx)
	if err != nil || n != 3 {
		t.Fatalf("verify: %d entries, %v", n, err)
	}
	if err := vault.TamperLogEntry(ctx, v, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyLog(ctx); err == nil {
		t.Fatal("a rewritten log entry verified")
	}
}

func TestConcurrentWritersShareOneLog(t *testing.T) {
	ctx := context.Background()
	v := MustCreate(t, vault.Config{})
	// A second handle on the same database stands for another process
	// (a `trove` command while `trove serve` runs).
	other, err := vault.Open(ctx, vault.Config{Home: v.Home()}, testPass)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := v
			if i%2 == 1 {
				h = other
			}
			_, err := h.Import(ctx, "d"+strings.Repeat("x", i+1), strings.NewReader("x\n1\n"), vault.ImportOptions{})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	n, err := v.VerifyLog(ctx)
	if err != nil || n != 20 {
		t.Fatalf("verify: %d entries, %v; want 20 and a consistent log", n, err)
	}
}

func TestErrorsAreTyped(t *testing.T) {
	v := MustCreate(t, vault.Config{})
	_, err := v.Dataset(context.Background(), "missing")
	var te *trove.Error
	if !errors.As(err, &te) || te.Code != trove.ENOTFOUND {
		t.Fatalf("missing dataset: %v", err)
	}
}
