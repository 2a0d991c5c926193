package did

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"slices"
	"testing"
)

// The work factor a key was sealed at is read back once the passphrase
// opened it, so a key that replaces it is sealed at the same cost.
func TestUnsealWorkFactor(t *testing.T) {
	k, err := Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, wf := range []int{10, 12} {
		sealed, err := Seal(k, []byte("pass phrase"), wf)
		if err != nil {
			t.Fatal(err)
		}
		got, n, err := UnsealWorkFactor(sealed, []byte("pass phrase"))
		if err != nil || got.DID() != k.DID() || n != wf {
			t.Fatalf("sealed at %d: unsealed %v at %d, %v", wf, got, n, err)
		}
		if _, _, err := UnsealWorkFactor(sealed, []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
			t.Fatalf("wrong passphrase: %v", err)
		}
	}
}

// An owner document lists every key for assertion, current first, so a
// resolver accepts what an earlier key signed; only the current key
// authenticates; key ids stay with their keys across rotations.
func TestOwnerDocumentKeepsEarlierKeysAsserting(t *testing.T) {
	k1, k2, k3 := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	var doc []byte
	id, _ := webServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write(doc) })
	var err error
	doc, err = OwnerDocument(id, []ed25519.PublicKey{k3.Public(), k2.Public(), k1.Public()}, k3.DID(), k2.DID(), k1.DID())
	if err != nil {
		t.Fatal(err)
	}
	res, err := parseDocument(id, doc)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Assertions, []string{id + "#key-3", id + "#key-2", id + "#key-1"}) || !res.Keys[id+"#key-1"].Equal(k1.Public()) {
		t.Fatalf("resolved %+v", res)
	}
	r := NewResolver(ResolverOptions{AllowLoopbackHTTP: true})
	for kid, want := range map[string]*Key{id + "#key-1": k1, id + "#key-3": k3} {
		if got, err := r.AssertionKey(context.Background(), id, kid); err != nil || !got.Equal(want.Public()) {
			t.Fatalf("assertion key %s: %v", kid, err)
		}
	}
	if _, err := OwnerDocument(id, nil); err == nil {
		t.Fatal("a document with no key")
	}
}
