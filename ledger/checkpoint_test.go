package ledger_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/ledger"
	"golang.org/x/mod/sumdb/note"
)

func sampleCheckpoint(tb testing.TB) (*did.Key, []byte, ledger.Checkpoint) {
	tb.Helper()
	k, seed := testKey(tb, 1)
	root := sha256.Sum256([]byte("root"))
	return k, seed, ledger.Checkpoint{Origin: k.DID(), Size: 42, Root: root[:]}
}

func TestCheckpointRoundTrip(t *testing.T) {
	k, _, cp := sampleCheckpoint(t)
	signed, err := ledger.SignCheckpoint(k, cp)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ledger.OpenCheckpoint(signed, k.DID())
	if err != nil {
		t.Fatal(err)
	}
	if got.Origin != cp.Origin || got.Size != cp.Size || !bytes.Equal(got.Root, cp.Root) {
		t.Fatalf("OpenCheckpoint = %+v, want %+v", got, cp)
	}
}

// TestCheckpointVerifiesWithSumdbNote opens a checkpoint with
// golang.org/x/mod/sumdb/note alone, as any C2SP verifier would, and
// checks that the ledger's note is byte for byte what x/mod's own signer
// makes for the same key, name and body.
func TestCheckpointVerifiesWithSumdbNote(t *testing.T) {
	k, seed, cp := sampleCheckpoint(t)
	signed, err := ledger.SignCheckpoint(k, cp)
	if err != nil {
		t.Fatal(err)
	}
	v := sumdbVerifier(t, k, k.DID())
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		t.Fatalf("note.Open: %v", err)
	}
	wantText := fmt.Sprintf("%s\n42\n%s\n", k.DID(), base64.StdEncoding.EncodeToString(cp.Root))
	if n.Text != wantText {
		t.Fatalf("note text %q, want %q", n.Text, wantText)
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Name != k.DID() || n.Sigs[0].Hash != v.KeyHash() {
		t.Fatalf("signatures %+v, want one by %s+%08x", n.Sigs, k.DID(), v.KeyHash())
	}
	// The key hash, computed by hand as C2SP signed-note defines it.
	h := sha256.Sum256(append([]byte(k.DID()+"\n\x01"), k.Public()...))
	if got := binary.BigEndian.Uint32(h[:4]); got != v.KeyHash() {
		t.Fatalf("key hash by hand %08x, sumdb %08x", got, v.KeyHash())
	}
	theirs, err := note.Sign(&note.Note{Text: wantText}, sumdbSigner(t, k, seed, k.DID()))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(signed, theirs) {
		t.Fatalf("ledger note\n%s\ndiffers from x/mod's\n%s", signed, theirs)
	}
}

func TestOpenCheckpointRefusesEveryFlippedByte(t *testing.T) {
	k, _, cp := sampleCheckpoint(t)
	signed, err := ledger.SignCheckpoint(k, cp)
	if err != nil {
		t.Fatal(err)
	}
	for i := range signed {
		for _, m := range flipMasks {
			if _, err := ledger.OpenCheckpoint(flippedBits(signed, i, m), k.DID()); err == nil {
				t.Errorf("byte %d (%q) ^ %#x: accepted", i, signed[i], m)
			}
		}
	}
}

func TestOpenCheckpointRefuses(t *testing.T) {
	k, seed, cp := sampleCheckpoint(t)
	other, otherSeed := testKey(t, 2)
	root := base64.StdEncoding.EncodeToString(cp.Root)
	vault := sumdbSigner(t, k, seed, k.DID())
	sign := func(text string, signers ...note.Signer) []byte {
		b, err := note.Sign(&note.Note{Text: text}, signers...)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := fmt.Sprintf("%s\n42\n%s\n", k.DID(), root)
	// A root whose last base64 character carries non-zero padding bits.
	loose := root[:len(root)-2] + string(root[len(root)-2]+1) + "="
	cases := map[string]struct {
		note []byte
		want error
	}{
		"wrong origin":       {sign(fmt.Sprintf("%s\n42\n%s\n", other.DID(), root), vault), ledger.ErrWrongVault},
		"another key":        {sign(fmt.Sprintf("%s\n42\n%s\n", other.DID(), root), sumdbSigner(t, other, otherSeed, other.DID())), ledger.ErrBadSignature},
		"another key, name":  {sign(good, sumdbSigner(t, other, otherSeed, k.DID())), ledger.ErrBadSignature},
		"unsigned":           {[]byte(good + "\n"), ledger.ErrMalformed},
		"extension line":     {sign(good+"extra\n", vault), ledger.ErrMalformed},
		"leading zero":       {sign(fmt.Sprintf("%s\n042\n%s\n", k.DID(), root), vault), ledger.ErrMalformed},
		"plus sign":          {sign(fmt.Sprintf("%s\n+42\n%s\n", k.DID(), root), vault), ledger.ErrMalformed},
		"size overflow":      {sign(fmt.Sprintf("%s\n18446744073709551616\n%s\n", k.DID(), root), vault), ledger.ErrMalformed},
		"empty size":         {sign(fmt.Sprintf("%s\n\n%s\n", k.DID(), root), vault), ledger.ErrMalformed},
		"short root":         {sign(fmt.Sprintf("%s\n42\n%s\n", k.DID(), base64.StdEncoding.EncodeToString(cp.Root[:31])), vault), ledger.ErrMalformed},
		"unpadded root":      {sign(fmt.Sprintf("%s\n42\n%s\n", k.DID(), strings.TrimRight(root, "=")), vault), ledger.ErrMalformed},
		"non-canonical root": {sign(fmt.Sprintf("%s\n42\n%s\n", k.DID(), loose), vault), ledger.ErrMalformed},
		"two lines":          {sign(fmt.Sprintf("%s\n42\n", k.DID()), vault), ledger.ErrMalformed},
		"too large":          {bytes.Repeat([]byte("a"), ledger.MaxCheckpointSize+1), ledger.ErrTooLarge},
	}
	if loose == root {
		t.Fatal("test bug: loose root equals root")
	}
	for name, c := range cases {
		if _, err := ledger.OpenCheckpoint(c.note, k.DID()); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	signed, err := ledger.SignCheckpoint(k, cp)
	if err != nil {
		t.Fatal(err)
	}
	for _, vaultDID := range []string{"did:web:example.com", k.KeyID(), "", "did:key:" + strings.Repeat("z", 300)} {
		if _, err := ledger.OpenCheckpoint(signed, vaultDID); !errors.Is(err, did.ErrInvalid) {
			t.Errorf("vault %q: got %v, want did.ErrInvalid", vaultDID, err)
		}
	}
	if _, err := ledger.OpenCheckpoint(signed, other.DID()); !errors.Is(err, ledger.ErrBadSignature) {
		t.Errorf("opened as another vault's: %v", err)
	}
}

// TestOpenCheckpointIgnoresCosignatures keeps room for witnesses: a
// cosignature by another key does not stop the vault's from verifying.
func TestOpenCheckpointIgnoresCosignatures(t *testing.T) {
	k, seed, cp := sampleCheckpoint(t)
	w, wSeed := testKey(t, 3)
	text := fmt.Sprintf("%s\n42\n%s\n", k.DID(), base64.StdEncoding.EncodeToString(cp.Root))
	signed, err := note.Sign(&note.Note{Text: text}, sumdbSigner(t, k, seed, k.DID()), sumdbSigner(t, w, wSeed, w.DID()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.OpenCheckpoint(signed, k.DID()); err != nil {
		t.Fatal(err)
	}
}

func TestSignCheckpointRefuses(t *testing.T) {
	k, _, cp := sampleCheckpoint(t)
	other, _ := testKey(t, 2)
	bad := cp
	bad.Origin = other.DID()
	if _, err := ledger.SignCheckpoint(k, bad); err == nil {
		t.Error("signed a checkpoint for another origin")
	}
	bad = cp
	bad.Root = cp.Root[:20]
	if _, err := ledger.SignCheckpoint(k, bad); !errors.Is(err, ledger.ErrMalformed) {
		t.Errorf("short root: %v", err)
	}
}

func FuzzOpenCheckpoint(f *testing.F) {
	k, seed, cp := sampleCheckpoint(f)
	signed, err := ledger.SignCheckpoint(k, cp)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add(flipped(signed, 10))
	f.Add([]byte(fmt.Sprintf("%s\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— %s AAAA\n", k.DID(), k.DID())))
	w, wSeed := testKey(f, 3)
	cosigned, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n7\n%s\n", k.DID(), base64.StdEncoding.EncodeToString(cp.Root))},
		sumdbSigner(f, k, seed, k.DID()), sumdbSigner(f, w, wSeed, w.DID()))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cosigned)
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := ledger.OpenCheckpoint(in, k.DID())
		if err != nil {
			return
		}
		if got.Origin != k.DID() || len(got.Root) != ledger.HashSize {
			t.Fatalf("opened %+v", got)
		}
		// Anything that opens was signed by the vault over exactly this
		// body; the vault's own encoding of it must open too.
		again, err := ledger.SignCheckpoint(k, *got)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(in, again[:bytes.Index(again, []byte("\n\n"))+2]) {
			t.Fatalf("opened body differs from its canonical encoding:\n%q\n%q", in, again)
		}
	})
}
