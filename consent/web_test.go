package consent

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/trove-project/trove/did"
)

// webSigner signs as a did:web owner with a did.Key.
type webSigner struct {
	id  string
	key *did.Key
}

func (w webSigner) DID() string            { return w.id }
func (w webSigner) KeyID() string          { return w.id + "#key-2" }
func (w webSigner) Sign(msg []byte) []byte { return w.key.Sign(msg) }

// A credential issued by a did:web owner verifies through a Verifier whose
// resolver fetches the owner's DID document; after a rotation the old key
// no longer asserts.
func TestVerifierResolvesDIDWeb(t *testing.T) {
	k := testKeys(t)
	var doc []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(doc) }))
	defer srv.Close()
	id, err := did.WebDID(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if doc, err = did.Document(id, []ed25519.PublicKey{k.mallory.Public(), k.owner.Public()}); err != nil {
		t.Fatal(err)
	}
	owner := webSigner{id: id, key: k.owner}
	tok, err := Issue(owner, k.requester.DID(), testTerms(k.owner.DID()), now.Add(-time.Hour), now.Add(time.Hour), consentID, testStatus)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v := NewVerifier(did.NewResolver(did.ResolverOptions{AllowLoopbackHTTP: true, Now: func() time.Time { return now }}), 0)
	c, err := v.VerifyCredential(ctx, tok, now)
	if err != nil || c.Issuer != id {
		t.Fatalf("did:web credential: %+v, %v", c, err)
	}
	// Signed by the rotated-out key #key-1: refused.
	claims := vcClaims(k)
	claims["iss"] = id
	oldTok := forge(t, k.mallory, `{"alg":"EdDSA","typ":"JWT","kid":"`+id+`#key-1"}`, claims)
	if _, err := v.VerifyCredential(ctx, oldTok, now); err == nil {
		t.Fatal("a rotated-out key still asserts")
	}
	// Without a resolver, did:web is not understood: refused, never guessed.
	if _, err := VerifyCredential(tok, now); CodeOf(err) != ErrBadToken {
		t.Fatalf("did:web without a resolver: %v", err)
	}
}
