package did

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hyperledger/aries-framework-go/pkg/vdr/fingerprint"
)

// ErrInvalid reports a DID or key that trove cannot use.
var ErrInvalid = errors.New("invalid DID")

// maxDIDLen bounds a DID before any decoding is attempted.
const maxDIDLen = 256

// Key is an Ed25519 key pair with its did:key identity.
type Key struct {
	priv ed25519.PrivateKey
	did  string
	kid  string
}

// Generate makes a new key from the random source r.
func Generate(r io.Reader) (*Key, error) {
	_, priv, err := ed25519.GenerateKey(r)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return newKey(priv), nil
}

// FromSeed returns the key whose 32-byte Ed25519 seed is seed.
func FromSeed(seed []byte) (*Key, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("key seed: want %d bytes, got %d", ed25519.SeedSize, len(seed))
	}
	return newKey(ed25519.NewKeyFromSeed(seed)), nil
}

func newKey(priv ed25519.PrivateKey) *Key {
	did, kid := fingerprint.CreateDIDKey(priv.Public().(ed25519.PublicKey))
	return &Key{priv: priv, did: did, kid: kid}
}

// DID returns the key's did:key identifier.
func (k *Key) DID() string { return k.did }

// KeyID returns the DID URL of the key's verification method
// (did:key:z…#z…), used as the `kid` of what it signs.
func (k *Key) KeyID() string { return k.kid }

// Public returns the public half of the key.
func (k *Key) Public() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }

// Sign signs msg with Ed25519.
func (k *Key) Sign(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

// Signer returns the key as a crypto.Signer, for JOSE and note libraries
// that take one. It is the only way the private half leaves the Key.
func (k *Key) Signer() crypto.Signer { return k.priv }

// seed returns the private seed; used only for sealing in this package.
func (k *Key) seed() []byte { return k.priv.Seed() }

// KeyDID returns the did:key identifier of an Ed25519 public key.
func KeyDID(pub ed25519.PublicKey) string {
	did, _ := fingerprint.CreateDIDKey(pub)
	return did
}

// PublicKey returns the Ed25519 public key a did:key identifier (or a DID
// URL of its key, did:key:z…#z…) stands for. Anything else — another method,
// another key type, a non-canonical encoding, a fragment naming another
// key — is refused with ErrInvalid.
func PublicKey(id string) (pub ed25519.PublicKey, err error) {
	if len(id) > maxDIDLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, maxDIDLen)
	}
	base, frag, hasFrag := strings.Cut(id, "#")
	msid, ok := strings.CutPrefix(base, "did:key:")
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a did:key", ErrInvalid, short(id))
	}
	if hasFrag && frag != msid {
		return nil, fmt.Errorf("%w: key fragment does not match the DID", ErrInvalid)
	}
	defer func() {
		// The third-party decoder indexes without bounds checks on some
		// key types; a panic there is a refusal, not a crash.
		if r := recover(); r != nil {
			pub, err = nil, fmt.Errorf("%w: undecodable did:key", ErrInvalid)
		}
	}()
	raw, code, err := fingerprint.PubKeyFromFingerprint(msid)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if code != fingerprint.ED25519PubKeyMultiCodec || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: not an Ed25519 did:key", ErrInvalid)
	}
	pub = ed25519.PublicKey(raw)
	if KeyDID(pub) != base {
		return nil, fmt.Errorf("%w: non-canonical did:key encoding", ErrInvalid)
	}
	return pub, nil
}

// short truncates untrusted text for an error message.
func short(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
