package ledger

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trove-project/trove/did"
	"golang.org/x/mod/sumdb/note"
)

// MaxCheckpointSize bounds a signed checkpoint note, in bytes.
const MaxCheckpointSize = 8 << 10

// Checkpoint is a signed statement of the log's size and root: the body of
// a C2SP tlog-checkpoint note.
type Checkpoint struct {
	// Origin names the log: the vault's DID.
	Origin string
	// Size is the number of leaves in the tree.
	Size uint64
	// Root is the RFC 6962 root hash of the tree of Size leaves.
	Root []byte
}

// SignCheckpoint returns cp as a C2SP tlog-checkpoint signed note:
// "origin\nsize\nbase64(root)\n", a blank line and the signature line by
// s, whose key name is its DID. cp.Origin must be s.DID().
func SignCheckpoint(s Signer, cp Checkpoint) ([]byte, error) {
	if cp.Origin != s.DID() {
		return nil, fmt.Errorf("sign checkpoint: origin %q is not the signer's DID %q", short(cp.Origin), short(s.DID()))
	}
	if !validNoteName(cp.Origin) {
		return nil, fmt.Errorf("sign checkpoint: origin %q is not a valid note name: %w", short(cp.Origin), ErrMalformed)
	}
	if len(cp.Root) != HashSize {
		return nil, fmt.Errorf("sign checkpoint: root has %d bytes, want %d: %w", len(cp.Root), HashSize, ErrMalformed)
	}
	text := fmt.Sprintf("%s\n%d\n%s\n", cp.Origin, cp.Size, base64.StdEncoding.EncodeToString(cp.Root))
	signed, err := note.Sign(&note.Note{Text: text}, noteSigner{s})
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	if len(signed) > MaxCheckpointSize {
		return nil, fmt.Errorf("sign checkpoint: %d bytes, limit %d: %w", len(signed), MaxCheckpointSize, ErrTooLarge)
	}
	return signed, nil
}

// OpenCheckpoint verifies a signed checkpoint note against the vault's DID
// alone and returns its contents. The note must carry a valid signature by
// the DID's Ed25519 key under the key name vaultDID (other signatures,
// such as witness cosignatures, are ignored), its origin must be vaultDID,
// and its body must be exactly an origin, a decimal size without leading
// zeros and a base64 SHA-256 root: trove writes no extension lines.
func OpenCheckpoint(signed []byte, vaultDID string) (*Checkpoint, error) {
	if len(signed) > MaxCheckpointSize {
		return nil, fmt.Errorf("open checkpoint: %d bytes, limit %d: %w", len(signed), MaxCheckpointSize, ErrTooLarge)
	}
	v, err := noteVerifier(vaultDID)
	if err != nil {
		return nil, fmt.Errorf("open checkpoint: %w", err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			return nil, fmt.Errorf("open checkpoint: not signed by %s: %w: %w", short(vaultDID), ErrBadSignature, err)
		}
		return nil, fmt.Errorf("open checkpoint: %w: %w", ErrMalformed, err)
	}
	// note.Open decodes signatures leniently; refuse any that are not in
	// canonical base64, so a checkpoint has one encoding.
	for _, sig := range slices.Concat(n.Sigs, n.UnverifiedSigs) {
		if _, err := decodeBase64(base64.StdEncoding, sig.Base64); err != nil {
			return nil, fmt.Errorf("open checkpoint: signature by %q: %w: %w", short(sig.Name), ErrMalformed, err)
		}
	}
	cp, err := parseCheckpointBody(n.Text)
	if err != nil {
		return nil, fmt.Errorf("open checkpoint: %w", err)
	}
	if cp.Origin != vaultDID {
		return nil, fmt.Errorf("open checkpoint: origin %q, want %q: %w", short(cp.Origin), short(vaultDID), ErrWrongVault)
	}
	return cp, nil
}

// parseCheckpointBody parses the three lines of a checkpoint body.
func parseCheckpointBody(text string) (*Checkpoint, error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return nil, fmt.Errorf("body has %d lines, want 3: %w", len(lines)-1, ErrMalformed)
	}
	origin, sizeText, rootText := lines[0], lines[1], lines[2]
	if origin == "" {
		return nil, fmt.Errorf("empty origin: %w", ErrMalformed)
	}
	size, err := parseSize(sizeText)
	if err != nil {
		return nil, err
	}
	root, err := decodeBase64(base64.StdEncoding, rootText)
	if err != nil || len(root) != HashSize {
		return nil, fmt.Errorf("root %q is not a base64 %d-byte hash: %w", short(rootText), HashSize, ErrMalformed)
	}
	return &Checkpoint{Origin: origin, Size: size, Root: root}, nil
}

// parseSize parses a tree size as C2SP writes it: ASCII decimal, no sign,
// no leading zeros.
func parseSize(s string) (uint64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, fmt.Errorf("size %q is not a canonical decimal: %w", short(s), ErrMalformed)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w: %w", short(s), ErrMalformed, err)
	}
	return n, nil
}

// noteVerifier returns the signed-note verifier for the vault's key, built
// the way any sumdb/note user would build it from the DID.
func noteVerifier(vaultDID string) (note.Verifier, error) {
	pub, err := vaultKey(vaultDID)
	if err != nil {
		return nil, err
	}
	vkey, err := note.NewEd25519VerifierKey(vaultDID, pub)
	if err != nil {
		return nil, fmt.Errorf("verifier key for %s: %w", short(vaultDID), err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("verifier for %s: %w", short(vaultDID), err)
	}
	return v, nil
}

// vaultKey returns the Ed25519 key of a vault DID: a did:key, not a DID
// URL, usable as a note key name.
func vaultKey(vaultDID string) (ed25519.PublicKey, error) {
	if strings.Contains(vaultDID, "#") || !validNoteName(vaultDID) {
		return nil, fmt.Errorf("vault %q is not a DID usable as a log origin: %w", short(vaultDID), did.ErrInvalid)
	}
	pub, err := did.PublicKey(vaultDID)
	if err != nil {
		return nil, fmt.Errorf("vault key: %w", err)
	}
	return pub, nil
}

// validNoteName reports whether name may name a note key: non-empty UTF-8
// without spaces or '+', as sumdb/note requires.
func validNoteName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}
