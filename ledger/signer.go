package ledger

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
)

// Signer is the vault key as the ledger uses it: an Ed25519 key with a
// did:key identity. *did.Key satisfies it; the private half never leaves it.
type Signer interface {
	// DID returns the signer's DID, which names the vault.
	DID() string
	// KeyID returns the DID URL of the signing key (did:key:z…#z…).
	KeyID() string
	// Public returns the Ed25519 public key.
	Public() ed25519.PublicKey
	// Sign returns the Ed25519 signature of msg.
	Sign(msg []byte) []byte
}

// noteAlgEd25519 is the signed-note algorithm byte for Ed25519 keys.
const noteAlgEd25519 = 0x01

// noteSigner signs checkpoints as a golang.org/x/mod/sumdb/note Signer
// whose key name is the vault's DID.
type noteSigner struct{ s Signer }

func (n noteSigner) Name() string { return n.s.DID() }

// KeyHash is computed as sumdb/note does for Ed25519 keys: the first four
// bytes, big-endian, of SHA-256(name || "\n" || 0x01 || public key).
func (n noteSigner) KeyHash() uint32 {
	h := sha256.New()
	h.Write([]byte(n.s.DID()))
	h.Write([]byte{'\n', noteAlgEd25519})
	h.Write(n.s.Public())
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func (n noteSigner) Sign(msg []byte) ([]byte, error) { return n.s.Sign(msg), nil }

// cryptoSigner presents a Signer as the crypto.Signer that JOSE libraries
// take, so the private key stays behind the Signer interface.
type cryptoSigner struct{ s Signer }

func (c cryptoSigner) Public() crypto.PublicKey { return c.s.Public() }

// Sign signs msg itself, as Ed25519 does; a pre-hashed message (Ed25519ph)
// is refused rather than silently signed as if it were the message.
func (c cryptoSigner) Sign(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts != nil && opts.HashFunc() != 0 {
		return nil, errors.New("ed25519 signs the message itself, not a digest")
	}
	return c.s.Sign(msg), nil
}
