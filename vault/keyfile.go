package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/internal/safefile"
)

// The owner key on disk. owner.key holds the sealed current key. A
// rotation writes its new sealed key beside it as owner.key.next (through
// a temporary file and a rename), commits the rotation to the database,
// then renames owner.key.next over owner.key. Whoever touches these files
// holds the key lock (vault.lock, an advisory file lock): a rotation for
// its whole run, an opening while it reads the key and settles what an
// interrupted rotation left. So an opening never takes the side key of a
// rotation in progress for a crash's leftover.
const (
	NextKeyFile = KeyFile + ".next"
	KeyLockFile = "vault.lock"
	// DefaultKeyLockWait is how long an opening waits for a rotation in
	// another process to finish.
	DefaultKeyLockWait = 30 * time.Second
)

// lockKey takes the key lock of home, waiting for it up to wait or until
// ctx ends; then it fails with EUNAVAILABLE, reason key_locked. It returns
// the function that releases the lock.
func lockKey(ctx context.Context, home string, wait time.Duration) (func(), error) {
	fl := flock.New(filepath.Join(home, KeyLockFile), flock.SetPermissions(0o600))
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	ok, err := fl.TryLockContext(wctx, 10*time.Millisecond)
	if err != nil || !ok {
		fl.Close()
		return nil, &trove.Error{Code: trove.EUNAVAILABLE, Reason: "key_locked",
			Message: "another trove process holds the vault's key lock (a key rotation); try again", Err: err}
	}
	return func() { fl.Unlock(); fl.Close() }, nil
}

// removeKeyTemporaries removes the temporary files of a key write cut
// short (safefile's .tmp-owner.key-* and .tmp-owner.key.next-*): they
// were never renamed into place, so nothing refers to them. The caller
// holds the key lock, so no write of them is under way.
func removeKeyTemporaries(home string) error {
	entries, err := os.ReadDir(home)
	if err != nil {
		return fmt.Errorf("read vault home: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-"+KeyFile+"-") || strings.HasPrefix(e.Name(), ".tmp-"+NextKeyFile+"-") {
			if err := os.Remove(filepath.Join(home, e.Name())); err != nil {
				return fmt.Errorf("remove a cut key write: %w", err)
			}
		}
	}
	return nil
}

// settleNextKey finishes or undoes a rotation interrupted between writing
// the side key and replacing owner.key, from what the database says:
// owner is the owner DID it records and key the key owner.key holds. If
// the database names the side key, the rotation committed: the side key
// replaces owner.key and is returned. If it names key, the rotation did
// not commit: the side key is removed. A side key the passphrase does not
// open, or that the database names no more than owner.key's, is not this
// vault's rotation: it is left alone and the opening refused. The caller
// holds the key lock.
func settleNextKey(home string, owner string, key *did.Key, passphrase []byte) (*did.Key, error) {
	next := filepath.Join(home, NextKeyFile)
	sealed, err := os.ReadFile(next)
	if errors.Is(err, os.ErrNotExist) {
		return key, nil
	} else if err != nil {
		return nil, fmt.Errorf("read %s: %w", NextKeyFile, err)
	}
	foreign := &trove.Error{Code: trove.ECONFLICT, Reason: "foreign_key_file",
		Message: fmt.Sprintf("%s in %s is not a rotation of this vault's key; move it away once you know what it is", NextKeyFile, home)}
	nk, err := did.Unseal(sealed, passphrase)
	if err != nil {
		foreign.Err = err
		return nil, foreign
	}
	switch owner {
	case nk.DID():
		if err := os.Rename(next, filepath.Join(home, KeyFile)); err != nil {
			return nil, fmt.Errorf("finish the key rotation: %w", err)
		}
		return nk, safefile.SyncDir(home)
	case key.DID():
		if err := os.Remove(next); err != nil {
			return nil, fmt.Errorf("undo the key rotation: %w", err)
		}
		return key, safefile.SyncDir(home)
	}
	return nil, foreign
}
