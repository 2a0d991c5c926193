package did

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strconv"

	"filippo.io/age"
)

// ErrWrongPassphrase reports a sealed key that the passphrase does not open.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// DefaultWorkFactor is the scrypt work factor (log2 N) used to seal keys at
// rest: about a second and 256 MiB of memory on a laptop, which is what
// makes guessing passphrases expensive.
const DefaultWorkFactor = 18

// maxSealedLen bounds a sealed key file before it is parsed.
const maxSealedLen = 64 << 10

// Seal encrypts the key's seed under passphrase with age's scrypt recipient
// (a memory-hard KDF). workFactor is log2 of scrypt's N; 0 means
// DefaultWorkFactor.
func Seal(k *Key, passphrase []byte, workFactor int) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("seal key: empty passphrase")
	}
	if workFactor == 0 {
		workFactor = DefaultWorkFactor
	}
	r, err := age.NewScryptRecipient(string(passphrase))
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	r.SetWorkFactor(workFactor)
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	if _, err := w.Write(k.seed()); err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	return buf.Bytes(), nil
}

// Unseal opens a key sealed by Seal.
func Unseal(sealed, passphrase []byte) (*Key, error) {
	k, _, err := UnsealWorkFactor(sealed, passphrase)
	return k, err
}

// UnsealWorkFactor opens a key sealed by Seal and also returns the scrypt
// work factor it was sealed at, read from the age header's scrypt stanza
// once the passphrase has opened it (so the number is authenticated): a
// key that replaces this one is sealed at the same cost.
func UnsealWorkFactor(sealed, passphrase []byte) (*Key, int, error) {
	if len(sealed) > maxSealedLen {
		return nil, 0, errors.New("unseal key: sealed key too large")
	}
	sid, err := age.NewScryptIdentity(string(passphrase))
	if err != nil {
		return nil, 0, fmt.Errorf("unseal key: %w", err)
	}
	id := &workFactorIdentity{scrypt: sid}
	r, err := age.Decrypt(bytes.NewReader(sealed), id)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, 0, ErrWrongPassphrase
		}
		return nil, 0, fmt.Errorf("unseal key: %w", err)
	}
	seed, err := io.ReadAll(io.LimitReader(r, ed25519SeedMax))
	if err != nil {
		return nil, 0, fmt.Errorf("unseal key: %w", err)
	}
	k, err := FromSeed(seed)
	if err != nil {
		return nil, 0, err
	}
	if id.workFactor == 0 {
		return nil, 0, errors.New("unseal key: no scrypt work factor in the header")
	}
	return k, id.workFactor, nil
}

// workFactorIdentity is age's scrypt identity that also keeps the work
// factor of the stanza it unwrapped.
type workFactorIdentity struct {
	scrypt     *age.ScryptIdentity
	workFactor int
}

// Unwrap unwraps with the scrypt identity and, once that succeeded, reads
// the work factor from the stanza's second argument (age has checked it
// is a canonical decimal).
func (w *workFactorIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	key, err := w.scrypt.Unwrap(stanzas)
	if err != nil {
		return nil, err
	}
	for _, s := range stanzas {
		if s.Type == "scrypt" && len(s.Args) == 2 {
			if n, err := strconv.Atoi(s.Args[1]); err == nil {
				w.workFactor = n
			}
		}
	}
	return key, nil
}

const ed25519SeedMax = 64

// SealSecret encrypts a small secret (a dataset key) with AES-256-GCM under
// a key derived from this key by HKDF-SHA256. label binds the ciphertext to
// its use: opening it under another label fails.
func (k *Key) SealSecret(secret []byte, label string) ([]byte, error) {
	aead, err := k.secretAEAD()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, secret, []byte(label)), nil
}

// OpenSecret decrypts what SealSecret sealed under the same label.
func (k *Key) OpenSecret(sealed []byte, label string) ([]byte, error) {
	aead, err := k.secretAEAD()
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("open secret: too short")
	}
	n := aead.NonceSize()
	out, err := aead.Open(nil, sealed[:n], sealed[n:], []byte(label))
	if err != nil {
		return nil, errors.New("open secret: authentication failed")
	}
	return out, nil
}

func (k *Key) secretAEAD() (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, k.seed(), nil, "trove secret sealing v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
