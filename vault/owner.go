package vault

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"slices"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/did"
)

// owner is the vault's owner key and every DID the owner has had. It is
// held in an atomic pointer and replaced whole by a rotation, so a reader
// sees one owner or the next, never half of each.
type owner struct {
	key  *did.Key
	dids []string            // every owner DID, the current one first
	pubs []ed25519.PublicKey // their keys, in the same order
	from []uint64            // the first log size whose checkpoint each key signs, in the same order
}

// signer returns the current owner key.
func (v *Vault) signer() *did.Key { return v.owner.Load().key }

// OwnerDIDs returns every DID the owner has had, the current one first:
// credentials, receipts and claims signed under any of them are the
// vault's.
func (v *Vault) OwnerDIDs() []string { return slices.Clone(v.owner.Load().dids) }

// isOwnerDID reports whether id is a DID the owner has had.
func (v *Vault) isOwnerDID(id string) bool { return slices.Contains(v.owner.Load().dids, id) }

// formerDIDs returns the owner's earlier DIDs, newest first.
func (v *Vault) formerDIDs() []string { return v.owner.Load().dids[1:] }

// loadOwner reads the owner's key history and checks that its newest key
// is key.
func loadOwner(ctx context.Context, q queryer, key *did.Key) (*owner, error) {
	rows, err := q.QueryContext(ctx, `SELECT did, public_key, from_size FROM owner_keys ORDER BY seq DESC`)
	if err != nil {
		return nil, fmt.Errorf("read owner keys: %w", err)
	}
	defer rows.Close()
	o := &owner{key: key}
	for rows.Next() {
		var id string
		var pub []byte
		var from uint64
		if err := rows.Scan(&id, &pub, &from); err != nil {
			return nil, fmt.Errorf("read owner keys: %w", err)
		}
		if len(pub) != ed25519.PublicKeySize {
			// The first key of a vault made before key history was kept:
			// its did:key says what it is.
			if pub, err = did.PublicKey(id); err != nil {
				return nil, fmt.Errorf("owner key %s: %w", id, err)
			}
		}
		o.dids, o.pubs, o.from = append(o.dids, id), append(o.pubs, pub), append(o.from, from)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read owner keys: %w", err)
	}
	if len(o.dids) == 0 || o.dids[0] != key.DID() {
		return nil, fmt.Errorf("open vault: the key history does not end with the owner key %s", key.DID())
	}
	return o, nil
}

// signerAt returns the DID whose key signs the checkpoint of the tree of
// size leaves.
func (o *owner) signerAt(size uint64) string {
	for i, from := range o.from {
		if size >= from {
			return o.dids[i]
		}
	}
	return o.dids[len(o.dids)-1]
}

// errKeyRotated is the refusal of a process whose owner key was retired by
// a rotation in another process: it must not sign as a DID that is no
// longer the vault's.
func errKeyRotated() error {
	return &trove.Error{Code: trove.EUNAVAILABLE, Reason: "key_rotated",
		Message: "the vault's owner key was rotated by another process; restart to use the new key"}
}

// checkOwner refuses, inside tx, to go on signing with a key that is no
// longer the owner's: one read of the owner DID by its primary key. It is
// how a process that still holds a retired key (a `trove serve` started
// before `trove did rotate`) fails closed.
func (v *Vault) checkOwner(ctx context.Context, q queryer) error {
	var current string
	if err := q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'owner_did'`).Scan(&current); err != nil {
		return unavailable(fmt.Errorf("read owner DID: %w", err))
	}
	if current != v.signer().DID() {
		return errKeyRotated()
	}
	return nil
}

// recordFirstKey records a new vault's first key in the key history.
func recordFirstKey(ctx context.Context, db *sql.DB, key *did.Key, now string) error {
	if _, err := db.ExecContext(ctx, `INSERT INTO owner_keys (seq, did, public_key, from_size, created_at) VALUES (0, ?, ?, 0, ?)`,
		key.DID(), []byte(key.Public()), now); err != nil {
		return fmt.Errorf("record owner key: %w", err)
	}
	return nil
}
