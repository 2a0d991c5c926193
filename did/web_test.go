package did

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestWebURL(t *testing.T) {
	tests := []struct{ id, want string }{
		{"did:web:example.com", "https://example.com/.well-known/did.json"},
		{"did:web:example.com%3A8443", "https://example.com:8443/.well-known/did.json"},
		{"did:web:example.com:users:alice", "https://example.com/users/alice/did.json"},
		{"did:web:127.0.0.1%3A8470", "http://127.0.0.1:8470/.well-known/did.json"},
		{"did:web:localhost%3A8470", "http://localhost:8470/.well-known/did.json"},
	}
	for _, tc := range tests {
		u, err := WebURL(tc.id, true)
		if err != nil || u.String() != tc.want {
			t.Errorf("%s: %v, %v; want %s", tc.id, u, err, tc.want)
		}
	}
	if u, err := WebURL("did:web:127.0.0.1%3A8470", false); err != nil || u.Scheme != "https" {
		t.Errorf("loopback without the test switch: %v %v", u, err)
	}
	if u, err := WebURL("did:web:example.com", true); err != nil || u.Scheme != "https" {
		t.Errorf("a public host is https even with the switch: %v %v", u, err)
	}
	for _, bad := range []string{"did:key:z6Mk", "did:web:", "did:web:Example.com", "did:web:a.com#x", "did:web:a.com:..:x",
		"did:web:a.com/x", "did:web:a.com:%2e%2e", "did:web:-a.com", "did:web:a.com:"} {
		if _, err := WebURL(bad, true); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if id, err := WebDID("Vault.Example:8443"); err != nil || id != "did:web:vault.example%3A8443" {
		t.Errorf("WebDID: %s %v", id, err)
	}
}

func testKey(t *testing.T, b byte) *Key {
	t.Helper()
	k, err := FromSeed(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// webServer serves body at /.well-known/did.json on loopback and counts
// fetches.
func webServer(t *testing.T, handler http.HandlerFunc) (string, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	id, err := WebDID(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return id, &n
}

func TestResolveWeb(t *testing.T) {
	old, cur := testKey(t, 1), testKey(t, 2)
	var doc []byte
	id, fetches := webServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/did.json" {
			http.NotFound(w, r)
			return
		}
		w.Write(doc)
	})
	var err error
	doc, err = Document(id, []ed25519.PublicKey{old.Public(), cur.Public()}, cur.DID(), old.DID())
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	r := NewResolver(ResolverOptions{AllowLoopbackHTTP: true, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }})
	ctx := context.Background()
	res, err := r.Resolve(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Keys) != 2 || len(res.Assertions) != 1 || res.Assertions[0] != id+"#key-2" {
		t.Fatalf("resolved %+v", res)
	}
	if len(res.AlsoKnownAs) != 2 || res.AlsoKnownAs[0] != cur.DID() || res.AlsoKnownAs[1] != old.DID() {
		t.Fatalf("alsoKnownAs %q, want the current did:key then the old", res.AlsoKnownAs)
	}
	// The current key asserts; a rotated-out key is listed but does not.
	if k, err := r.AssertionKey(ctx, id, ""); err != nil || !k.Equal(cur.Public()) {
		t.Fatalf("assertion key: %v", err)
	}
	if _, err := r.AssertionKey(ctx, id, id+"#key-1"); err == nil {
		t.Fatal("a rotated-out key asserts")
	}
	if _, err := r.AssertionKey(ctx, id, "did:web:elsewhere.example#key-2"); err == nil {
		t.Fatal("a key of another DID asserts")
	}
	if fetches.Load() != 1 {
		t.Fatalf("%d fetches for 3 resolutions within the TTL", fetches.Load())
	}
	mu.Lock()
	clock = clock.Add(DefaultWebTTL + time.Second)
	mu.Unlock()
	if _, err := r.Resolve(ctx, id); err != nil || fetches.Load() != 2 {
		t.Fatalf("after the TTL: %d fetches, %v", fetches.Load(), err)
	}
	// did:key resolves offline.
	if k, err := r.AssertionKey(ctx, cur.DID(), cur.KeyID()); err != nil || !k.Equal(cur.Public()) {
		t.Fatalf("did:key: %v", err)
	}
}

func TestResolveWebRefuses(t *testing.T) {
	k := testKey(t, 1)
	ctx := context.Background()
	big := bytes.Repeat([]byte(" "), DefaultWebMaxSize+1)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	tests := map[string]struct {
		handler func(id string) http.HandlerFunc
		opts    ResolverOptions
		want    error
	}{
		"plain http without the test switch": {func(id string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { writeDoc(t, w, id, k) }
		}, ResolverOptions{}, ErrUnresolvable},
		"over the size limit": {func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { w.Write(big) }
		}, ResolverOptions{AllowLoopbackHTTP: true}, ErrUnresolvable},
		"over the size limit, announced": {func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", fmt.Sprint(len(big)))
				w.Write(big)
			}
		}, ResolverOptions{AllowLoopbackHTTP: true}, ErrUnresolvable},
		"a redirect": {func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "https://example.com/did.json", http.StatusFound)
			}
		}, ResolverOptions{AllowLoopbackHTTP: true}, ErrUnresolvable},
		"not found": {func(string) http.HandlerFunc { return http.NotFound }, ResolverOptions{AllowLoopbackHTTP: true}, ErrUnresolvable},
		"a document about another DID": {func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { writeDoc(t, w, "did:web:other.example", k) }
		}, ResolverOptions{AllowLoopbackHTTP: true}, ErrOtherDID},
		"not JSON": {func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }
		}, ResolverOptions{AllowLoopbackHTTP: true}, ErrInvalid},
		"alsoKnownAs not strings": {func(id string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, `{"@context":"https://www.w3.org/ns/did/v1","id":%q,"alsoKnownAs":[null,%q]}`, id, k.DID())
			}
		}, ResolverOptions{AllowLoopbackHTTP: true}, ErrInvalid},
		"alsoKnownAs not an array": {func(id string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, `{"@context":"https://www.w3.org/ns/did/v1","id":%q,"alsoKnownAs":%q}`, id, k.DID())
			}
		}, ResolverOptions{AllowLoopbackHTTP: true}, ErrInvalid},
		"a server that never answers": {func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-release:
				}
			}
		}, ResolverOptions{AllowLoopbackHTTP: true, Timeout: 50 * time.Millisecond}, ErrUnresolvable},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var h http.HandlerFunc
			id, _ := webServer(t, func(w http.ResponseWriter, r *http.Request) { h(w, r) })
			h = tc.handler(id)
			res, err := NewResolver(tc.opts).Resolve(ctx, id)
			if !errors.Is(err, tc.want) {
				t.Fatalf("resolved %+v, %v; want %v", res, err, tc.want)
			}
		})
	}
	// An unreachable host.
	id, err := WebDID(closedPort(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewResolver(ResolverOptions{AllowLoopbackHTTP: true}).Resolve(ctx, id); !errors.Is(err, ErrUnresolvable) {
		t.Fatalf("unreachable: %v", err)
	}
}

// closedPort returns a loopback host:port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func writeDoc(t *testing.T, w http.ResponseWriter, id string, k *Key) {
	doc, err := Document(id, []ed25519.PublicKey{k.Public()})
	if err != nil {
		t.Error(err)
	}
	w.Write(doc)
}

func FuzzParseDocument(f *testing.F) {
	k, _ := FromSeed(bytes.Repeat([]byte{1}, 32))
	doc, _ := Document("did:web:example.com", []ed25519.PublicKey{k.Public()})
	f.Add(doc)
	f.Add([]byte(`{"id":"did:web:example.com","verificationMethod":[{"id":"#k"}]}`))
	withAKA, _ := Document("did:web:example.com", []ed25519.PublicKey{k.Public()}, k.DID(), "did:key:z6Mkold")
	f.Add(withAKA)
	f.Add([]byte(`{"id":"did:web:example.com","alsoKnownAs":[1,"did:key:z6Mk"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseDocument("did:web:example.com", data)
		if err != nil {
			return
		}
		for _, a := range r.Assertions {
			if len(r.Keys[a]) != 32 || !strings.HasPrefix(a, "did:web:example.com#") {
				t.Fatalf("assertion %s without a key of the DID", a)
			}
		}
		// alsoKnownAs keeps the document's entries, all of them, in order.
		var raw struct{ AlsoKnownAs []string }
		if json.Unmarshal(data, &raw) == nil && !slices.Equal(raw.AlsoKnownAs, r.AlsoKnownAs) {
			t.Fatalf("alsoKnownAs %q, the document says %q", r.AlsoKnownAs, raw.AlsoKnownAs)
		}
	})
}
