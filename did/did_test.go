package did

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func TestKeyDIDRoundTrip(t *testing.T) {
	k, err := Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.DID(), "did:key:z6Mk") {
		t.Fatalf("DID %s is not an Ed25519 did:key", k.DID())
	}
	if k.KeyID() != k.DID()+"#"+strings.TrimPrefix(k.DID(), "did:key:") {
		t.Fatalf("key id %s", k.KeyID())
	}
	for _, id := range []string{k.DID(), k.KeyID()} {
		pub, err := PublicKey(id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pub, k.Public()) {
			t.Fatalf("PublicKey(%s) is another key", id)
		}
	}
	msg := []byte("hello")
	if !ed25519.Verify(k.Public(), msg, k.Sign(msg)) {
		t.Fatal("signature does not verify")
	}
}

// A known vector from the did:key specification.
func TestPublicKeySpecVector(t *testing.T) {
	const id = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	pub, err := PublicKey(id)
	if err != nil {
		t.Fatal(err)
	}
	if KeyDID(pub) != id {
		t.Fatalf("re-encoded %s", KeyDID(pub))
	}
}

func TestPublicKeyRefuses(t *testing.T) {
	k, _ := Generate(rand.Reader)
	other, _ := Generate(rand.Reader)
	msid := strings.TrimPrefix(k.DID(), "did:key:")
	cases := map[string]string{
		"empty":              "",
		"other method":       "did:web:example.com",
		"not base58btc":      "did:key:m" + msid[1:],
		"garbage":            "did:key:z!!!",
		"truncated":          k.DID()[:len(k.DID())-4],
		"x25519 key":         "did:key:z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc",
		"p-256 key":          "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169",
		"fragment mismatch":  k.DID() + "#" + strings.TrimPrefix(other.DID(), "did:key:"),
		"fragment only":      k.DID() + "#",
		"too long":           "did:key:z" + strings.Repeat("6", 300),
		"bls prefix no body": "did:key:zUC7",
	}
	for name, id := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := PublicKey(id); !errors.Is(err, ErrInvalid) {
				t.Fatalf("PublicKey(%q) = %v, want ErrInvalid", id, err)
			}
		})
	}
}

func TestSealUnseal(t *testing.T) {
	k, _ := Generate(rand.Reader)
	sealed, err := Seal(k, []byte("pass phrase"), 10)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, k.seed()) {
		t.Fatal("the sealed key holds the seed in the clear")
	}
	got, err := Unseal(sealed, []byte("pass phrase"))
	if err != nil {
		t.Fatal(err)
	}
	if got.DID() != k.DID() {
		t.Fatal("unsealed another key")
	}
	if _, err := Unseal(sealed, []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := Seal(k, nil, 10); err == nil {
		t.Fatal("sealed under an empty passphrase")
	}
	if _, err := Unseal(bytes.Repeat([]byte("x"), maxSealedLen+1), []byte("p")); err == nil {
		t.Fatal("unsealed an oversized file")
	}
}

func TestSecretsAreBoundToKeyAndLabel(t *testing.T) {
	k, _ := Generate(rand.Reader)
	other, _ := Generate(rand.Reader)
	secret := []byte("dataset key material, 32 bytes!!")
	sealed, err := k.SealSecret(secret, "label a")
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.OpenSecret(sealed, "label a")
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("open: %v", err)
	}
	if _, err := k.OpenSecret(sealed, "label b"); err == nil {
		t.Fatal("opened under another label")
	}
	if _, err := other.OpenSecret(sealed, "label a"); err == nil {
		t.Fatal("opened with another key")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := k.OpenSecret(sealed, "label a"); err == nil {
		t.Fatal("opened a tampered secret")
	}
	if _, err := k.OpenSecret([]byte{1, 2}, "label a"); err == nil {
		t.Fatal("opened a truncated secret")
	}
}

func FuzzPublicKey(f *testing.F) {
	k, _ := Generate(rand.Reader)
	for _, s := range []string{k.DID(), k.KeyID(), "did:key:z", "did:key:zUC7", "did:key:z6LS", "did:key:zDna"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		pub, err := PublicKey(id)
		if err != nil {
			return
		}
		if len(pub) != ed25519.PublicKeySize {
			t.Fatalf("accepted %q with a %d-byte key", id, len(pub))
		}
		if base, _, _ := strings.Cut(id, "#"); KeyDID(pub) != base {
			t.Fatalf("accepted non-canonical %q", id)
		}
	})
}
