package ledger_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/trove-project/trove/did"
	"golang.org/x/mod/sumdb/note"
)

// testKey returns the did:key whose Ed25519 seed is 32 bytes of b.
func testKey(tb testing.TB, b byte) (*did.Key, []byte) {
	tb.Helper()
	seed := bytes.Repeat([]byte{b}, 32)
	k, err := did.FromSeed(seed)
	if err != nil {
		tb.Fatal(err)
	}
	return k, seed
}

// sumdbSigner returns x/mod's own note signer for the key with this seed,
// under key name name: an implementation independent of the ledger's.
func sumdbSigner(tb testing.TB, k *did.Key, seed []byte, name string) note.Signer {
	tb.Helper()
	vkey, err := note.NewEd25519VerifierKey(name, k.Public())
	if err != nil {
		tb.Fatal(err)
	}
	parts := strings.Split(vkey, "+")
	hash := parts[len(parts)-2]
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%s+%s", name, hash, base64.StdEncoding.EncodeToString(append([]byte{1}, seed...)))
	s, err := note.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// sumdbVerifier returns x/mod's own verifier for the key under name.
func sumdbVerifier(tb testing.TB, k *did.Key, name string) note.Verifier {
	tb.Helper()
	vkey, err := note.NewEd25519VerifierKey(name, k.Public())
	if err != nil {
		tb.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// flipped returns a copy of b with bit 0 of byte i flipped.
func flipped(b []byte, i int) []byte {
	return flippedBits(b, i, 1)
}

// flippedBits returns a copy of b with byte i XORed with mask.
func flippedBits(b []byte, i int, mask byte) []byte {
	c := bytes.Clone(b)
	c[i] ^= mask
	return c
}

// flipMasks are the bit flips tried at every byte: the low bits, so a
// base64 character also changes into its neighbours, which is where a
// lenient decoder hides padding bits.
var flipMasks = []byte{0x01, 0x02, 0x04}
