package vault_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/internal/sqlitetest"
	"github.com/trove-project/trove/vault"
)

func openNonces(t *testing.T, cfg vault.NoncesConfig) *vault.Nonces {
	t.Helper()
	n, err := vault.OpenNonces(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// nonceRows counts the rows of a vault's nonce store, read as anyone
// could.
func nonceRows(t *testing.T, home string) int {
	return sqlitetest.Rows(t, filepath.Join(home, vault.NoncesFile), "nonces")
}

const testKeyID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK#z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"

// A pair recorded is refused as a replay, by the same store and by the
// store reopened (as after a restart); another nonce, or the same nonce
// under another key id, is not.
func TestNoncesOutliveTheStore(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	now := time.Now()
	forget := now.Add(10 * time.Minute)
	n := openNonces(t, vault.NoncesConfig{Home: home})
	if err := n.Use(ctx, testKeyID, "nonce-aaaaaaaaaaaa", now, forget); err != nil {
		t.Fatal(err)
	}
	if err := n.Use(ctx, testKeyID, "nonce-aaaaaaaaaaaa", now, forget); trove.ErrorReason(err) != "replayed_request" || trove.ErrorCode(err) != trove.EUNAUTHORIZED {
		t.Fatalf("replay: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = openNonces(t, vault.NoncesConfig{Home: home})
	if err := n.Use(ctx, testKeyID, "nonce-aaaaaaaaaaaa", now.Add(time.Minute), forget); trove.ErrorReason(err) != "replayed_request" {
		t.Fatalf("replay after reopening: %v", err)
	}
	for _, p := range [][2]string{{testKeyID, "nonce-bbbbbbbbbbbb"}, {testKeyID + "x", "nonce-aaaaaaaaaaaa"}} {
		if err := n.Use(ctx, p[0], p[1], now, forget); err != nil {
			t.Fatalf("%q: %v", p, err)
		}
	}
	if got := nonceRows(t, home); got != 3 {
		t.Fatalf("%d rows, want 3", got)
	}
}

// Each use first forgets the rows expired at its time, so the store
// holds only what can still be replayed.
func TestNoncesPruneExpired(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	n := openNonces(t, vault.NoncesConfig{Home: home})
	t0 := time.Now()
	for _, nonce := range []string{"nonce-aaaaaaaaaaaa", "nonce-bbbbbbbbbbbb"} {
		if err := n.Use(ctx, testKeyID, nonce, t0, t0.Add(10*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Use(ctx, testKeyID, "nonce-cccccccccccc", t0, t0.Add(20*time.Minute)); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(11 * time.Minute)
	if err := n.Use(ctx, testKeyID, "nonce-dddddddddddd", later, later.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := nonceRows(t, home); got != 2 {
		t.Fatalf("%d rows after the first two expired, want 2", got)
	}
	// Forgotten at its time: the pair is new to the store again (the API's
	// window refuses such a request as stale long before).
	if err := n.Use(ctx, testKeyID, "nonce-aaaaaaaaaaaa", later, later.Add(time.Minute)); err != nil {
		t.Fatalf("an expired pair: %v", err)
	}
	if err := n.Use(ctx, testKeyID, "nonce-cccccccccccc", later, later.Add(time.Minute)); trove.ErrorReason(err) != "replayed_request" {
		t.Fatalf("a pair not yet expired: %v", err)
	}
}

// A full store turns requests away (429) rather than forget a pair
// early, and takes them again once rows expire; its count is exact after
// reopening.
func TestNoncesBounded(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	n := openNonces(t, vault.NoncesConfig{Home: home, Max: 3})
	t0 := time.Now()
	for i, nonce := range []string{"nonce-aaaaaaaaaaaa", "nonce-bbbbbbbbbbbb", "nonce-cccccccccccc"} {
		if err := n.Use(ctx, testKeyID, nonce, t0, t0.Add(time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	err := n.Use(ctx, testKeyID, "nonce-dddddddddddd", t0, t0.Add(time.Minute))
	if trove.ErrorCode(err) != trove.ETOOMANY || trove.ErrorReason(err) != "nonce_store_full" {
		t.Fatalf("a fourth pair in a store of three: %v", err)
	}
	if err := n.Use(ctx, testKeyID, "nonce-aaaaaaaaaaaa", t0, t0.Add(time.Minute)); trove.ErrorReason(err) != "replayed_request" {
		t.Fatalf("a pair held, in a full store: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = openNonces(t, vault.NoncesConfig{Home: home, Max: 3})
	if err := n.Use(ctx, testKeyID, "nonce-dddddddddddd", t0, t0.Add(time.Minute)); trove.ErrorCode(err) != trove.ETOOMANY {
		t.Fatalf("full after reopening: %v", err)
	}
	// Past the first row's time, one slot is free again, and only one.
	t1 := t0.Add(time.Minute + time.Second)
	if err := n.Use(ctx, testKeyID, "nonce-dddddddddddd", t1, t1.Add(time.Minute)); err != nil {
		t.Fatalf("after one expired: %v", err)
	}
	if err := n.Use(ctx, testKeyID, "nonce-eeeeeeeeeeee", t1, t1.Add(time.Minute)); trove.ErrorCode(err) != trove.ETOOMANY {
		t.Fatalf("full again: %v", err)
	}
	if got := nonceRows(t, home); got != 3 {
		t.Fatalf("%d rows, want 3", got)
	}
}

// Key ids, nonces and lifetimes outside their limits are refused and
// nothing is stored; the largest accepted are stored.
func TestNoncesLimits(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	n := openNonces(t, vault.NoncesConfig{Home: home})
	now := time.Now()
	ok := now.Add(10 * time.Minute)
	for name, c := range map[string]struct {
		keyID, nonce string
		forget       time.Time
	}{
		"empty key id":         {"", "nonce-aaaaaaaaaaaa", ok},
		"key id too long":      {strings.Repeat("k", vault.MaxNonceKeyID+1), "nonce-aaaaaaaaaaaa", ok},
		"empty nonce":          {testKeyID, "", ok},
		"nonce too long":       {testKeyID, strings.Repeat("n", vault.MaxNonceLen+1), ok},
		"already expired":      {testKeyID, "nonce-aaaaaaaaaaaa", now},
		"kept for too long":    {testKeyID, "nonce-aaaaaaaaaaaa", now.Add(vault.MaxNonceLife + time.Second)},
		"expired in the past":  {testKeyID, "nonce-aaaaaaaaaaaa", now.Add(-time.Minute)},
		"kept for a year":      {testKeyID, "nonce-aaaaaaaaaaaa", now.AddDate(1, 0, 0)},
		"long key, long nonce": {strings.Repeat("k", 1<<20), strings.Repeat("n", 1<<20), ok},
	} {
		if err := n.Use(ctx, c.keyID, c.nonce, now, c.forget); trove.ErrorCode(err) != trove.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
	if got := nonceRows(t, home); got != 0 {
		t.Fatalf("%d rows stored from refused uses", got)
	}
	if err := n.Use(ctx, strings.Repeat("k", vault.MaxNonceKeyID), strings.Repeat("n", vault.MaxNonceLen), now, now.Add(vault.MaxNonceLife)); err != nil {
		t.Fatalf("the largest pair: %v", err)
	}
}

// The store keeps hashes only: neither the key id nor the nonce appears
// in its files.
func TestNoncesKeepOnlyHashes(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	n := openNonces(t, vault.NoncesConfig{Home: home})
	now := time.Now()
	if err := n.Use(ctx, testKeyID, "nonce-secretsecret", now, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(home, vault.NoncesFile+"*"))
	if err != nil || len(files) == 0 {
		t.Fatal(files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("nonce-secretsecret")) || bytes.Contains(b, []byte("z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK")) {
			t.Fatalf("%s holds the key id or the nonce in the clear", filepath.Base(f))
		}
	}
}

// The store's file is in WAL mode with synchronous=NORMAL (see Nonces).
func TestNoncesPragmas(t *testing.T) {
	n := openNonces(t, vault.NoncesConfig{Home: t.TempDir()})
	journal, sync, err := vault.NoncesPragmas(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	if journal != "wal" || sync != 1 {
		t.Fatalf("journal_mode %s, synchronous %d; want wal, 1 (NORMAL)", journal, sync)
	}
}

// A store that cannot commit refuses with EUNAVAILABLE (reason
// nonce_store), every time, and records nothing.
func TestNoncesFailClosed(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	var fail atomic.Bool
	n := openNonces(t, vault.NoncesConfig{Home: home, SQLDriver: sqlitetest.FailingDriver(t, &fail)})
	now := time.Now()
	fail.Store(true)
	for range 2 {
		err := n.Use(ctx, testKeyID, "nonce-aaaaaaaaaaaa", now, now.Add(time.Minute))
		if trove.ErrorCode(err) != trove.EUNAVAILABLE || trove.ErrorReason(err) != "nonce_store" {
			t.Fatalf("a store that cannot commit: %v", err)
		}
	}
	if got := nonceRows(t, home); got != 0 {
		t.Fatalf("%d rows after failed commits", got)
	}
	// Once the storage works again, so does the store.
	fail.Store(false)
	if err := n.Use(ctx, testKeyID, "nonce-aaaaaaaaaaaa", now, now.Add(time.Minute)); err != nil {
		t.Fatalf("after the failure: %v", err)
	}
}
