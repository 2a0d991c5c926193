package vault

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/internal/safefile"
	"github.com/trove-project/trove/ledger"
)

// Rotation is a key rotation as the vault made it.
type Rotation struct {
	Old      string // the retired DID
	New      string // the owner's DID from now on
	Index    uint64 // of the did.rotated log entry
	Handover []byte // the retired key's last checkpoint
	Datasets int    // dataset keys sealed anew
}

// Rotate gives the owner a new key, and so (a did:key being its key) the
// vault a new DID. passphrase must open owner.key: the new key is sealed
// under it, at the work factor the current key was sealed at.
//
// Holding the key lock, Rotate writes the new sealed key beside owner.key
// (owner.key.next), then, in one transaction run alone: the retired key
// signs a rotation statement naming the new DID and the log's size and
// root, which the new key co-signs; the rotation is logged (did.rotated);
// the retired key signs its last checkpoint, the handover, over the tree
// ending with that entry, and the new key signs the same tree; every
// dataset key is sealed anew under the new key; the key history records
// the new key with its statement and handover; and the owner DID becomes
// the new one. Only after the commit does owner.key.next replace
// owner.key. If the transaction fails before its commit the side key is
// removed and nothing changed; if the commit itself fails (its outcome is
// then unknown) the side key stays, this Vault writes nothing more
// (reason rotation_uncertain) and the next Open settles it, as it settles
// a crash at any point. The retired
// private key is dropped.
//
// What the earlier DIDs signed stays the vault's: consents they issued go
// on running, receipts and claims verify with the DID that signed them.
// Rotation revokes nothing.
//
// A vault's key rotates at most ledger.MaxRotationLinks times, the
// longest chain a verifier accepts; past that Rotate refuses with
// ECONFLICT, reason too_many_rotations, and changes nothing.
func (v *Vault) Rotate(ctx context.Context, passphrase []byte) (*Rotation, error) {
	unlock, err := lockKey(ctx, v.cfg.Home, v.cfg.KeyLockWait)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// A chain longer than its verifiers take would cut every requester
	// off from the vault's DID, and fail the vault's own log check. The
	// history in memory is the database's while this process's key is the
	// owner's, which the transaction checks (checkOwner).
	if n := len(v.owner.Load().dids) - 1; n >= ledger.MaxRotationLinks {
		return nil, &trove.Error{Code: trove.ECONFLICT, Reason: "too_many_rotations",
			Message: fmt.Sprintf("this vault's key was rotated %d times, as many as a rotation chain holds", n)}
	}
	oldKey := v.signer()
	sealed, err := os.ReadFile(filepath.Join(v.cfg.Home, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("rotate: read owner key: %w", err)
	}
	onDisk, workFactor, err := did.UnsealWorkFactor(sealed, passphrase)
	if errors.Is(err, did.ErrWrongPassphrase) {
		return nil, &trove.Error{Code: trove.EUNAUTHORIZED, Reason: "wrong_passphrase", Message: "the passphrase does not open this vault's key"}
	} else if err != nil {
		return nil, fmt.Errorf("rotate: %w", err)
	}
	if onDisk.DID() != oldKey.DID() {
		return nil, errKeyRotated()
	}
	newKey, err := did.Generate(v.cfg.Rand)
	if err != nil {
		return nil, err
	}
	sealedNew, err := did.Seal(newKey, passphrase, workFactor)
	if err != nil {
		return nil, err
	}
	jti, err := v.newUUID()
	if err != nil {
		return nil, err
	}
	next := filepath.Join(v.cfg.Home, NextKeyFile)
	if err := safefile.Write(next, sealedNew, 0o600); err != nil {
		return nil, fmt.Errorf("rotate: write the new key: %w", err)
	}
	now := v.now()
	out := &Rotation{Old: oldKey.DID(), New: newKey.DID()}
	err = v.writeAlone(ctx, func(tx *sql.Tx) error {
		return v.rotateIn(ctx, tx, oldKey, newKey, jti, now, out)
	}, func() {
		o := v.owner.Load()
		v.owner.Store(&owner{
			key:  newKey,
			dids: append([]string{newKey.DID()}, o.dids...),
			pubs: append([]ed25519.PublicKey{newKey.Public()}, o.pubs...),
			from: append([]uint64{out.Index + 1}, o.from...),
		})
	})
	var uncertain *commitFailedError
	if errors.As(err, &uncertain) {
		// The commit itself failed, so whether the rotation is on disk is
		// unknown here: removing the side key could lose the owner's new
		// key with every dataset key sealed under it. The side key stays
		// for the next Open to settle from what the database then says,
		// and this process, which cannot know which key is the owner's,
		// writes nothing more.
		v.stopCommitter()
		return nil, &trove.Error{Code: trove.EUNAVAILABLE, Reason: "rotation_uncertain",
			Message: "the rotation's commit failed and this process cannot tell whether it reached the disk; open the vault again (restart trove serve) to settle it", Err: err}
	}
	if err != nil {
		// Not committed: the side key goes, the old DID stays.
		if rerr := os.Remove(next); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			v.cfg.Logger.Error("rotation failed and its side key could not be removed; the next open removes it", "err", rerr)
		}
		return nil, err
	}
	if err := os.Rename(next, filepath.Join(v.cfg.Home, KeyFile)); err != nil {
		return out, fmt.Errorf("rotate: the rotation is committed but %s could not replace %s (the next open does it): %w", NextKeyFile, KeyFile, err)
	}
	if err := safefile.SyncDir(v.cfg.Home); err != nil {
		return out, fmt.Errorf("rotate: %w", err)
	}
	v.cfg.Logger.Info("owner key rotated", "log_index", out.Index)
	return out, nil
}

// rotateIn is the rotation's transaction (see Rotate).
func (v *Vault) rotateIn(ctx context.Context, tx *sql.Tx, oldKey, newKey *did.Key, jti string, now time.Time, out *Rotation) error {
	if err := v.checkOwner(ctx, tx); err != nil {
		return err
	}
	tree, err := logTree(ctx, tx)
	if err != nil {
		return err
	}
	size := tree.Size()
	root, err := tree.Root()
	if err != nil {
		return err
	}
	r := ledger.Rotation{ID: jti, Old: oldKey.DID(), New: newKey.DID(), IssuedAt: now, LogSize: size, LogRoot: root}
	statement, cosignature, err := ledger.SignRotation(oldKey, newKey, r)
	if err != nil {
		return err
	}
	r.IssuedAt = now.UTC().Truncate(time.Second)
	a, err := v.appendLog(ctx, tx, ledger.RotationEntry(r, ledger.StatementHash(statement)))
	if err != nil {
		return err
	}
	handover, err := ledger.SignCheckpoint(oldKey, ledger.Checkpoint{Origin: oldKey.DID(), Size: a.Size, Root: a.Root})
	if err != nil {
		return fmt.Errorf("sign the handover checkpoint: %w", err)
	}
	successor, err := ledger.SignCheckpoint(newKey, ledger.Checkpoint{Origin: newKey.DID(), Size: a.Size, Root: a.Root})
	if err != nil {
		return fmt.Errorf("sign the successor checkpoint: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (size, note) VALUES (?, ?)`, a.Size, successor); err != nil {
		return unavailable(fmt.Errorf("save checkpoint: %w", err))
	}
	n, err := resealDatasetKeys(ctx, tx, oldKey, newKey)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO owner_keys (seq, did, public_key, from_size, statement, cosignature, entry_index, handover, created_at)
		VALUES ((SELECT max(seq) + 1 FROM owner_keys), ?, ?, ?, ?, ?, ?, ?, ?)`,
		newKey.DID(), []byte(newKey.Public()), a.Size, statement, cosignature, a.First, string(handover), formatTime(now)); err != nil {
		return unavailable(fmt.Errorf("record the new owner key: %w", err))
	}
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'owner_did'`, newKey.DID()); err != nil {
		return unavailable(fmt.Errorf("record the new owner DID: %w", err))
	}
	out.Index, out.Handover, out.Datasets = a.First, handover, n
	return nil
}

// resealDatasetKeys seals every dataset key anew under newKey.
func resealDatasetKeys(ctx context.Context, tx *sql.Tx, oldKey, newKey *did.Key) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, name, digest, sealed_key FROM datasets ORDER BY id`)
	if err != nil {
		return 0, unavailable(fmt.Errorf("read dataset keys: %w", err))
	}
	type sealedKey struct {
		id           int64
		name, digest string
		sealed       []byte
	}
	var keys []sealedKey
	for rows.Next() {
		var k sealedKey
		if err := rows.Scan(&k.id, &k.name, &k.digest, &k.sealed); err != nil {
			rows.Close()
			return 0, err
		}
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, k := range keys {
		label := datasetKeyLabel(k.name, k.digest)
		dataKey, err := oldKey.OpenSecret(k.sealed, label)
		if err != nil {
			return 0, fmt.Errorf("rotate: dataset %s: %w", k.name, err)
		}
		resealed, err := newKey.SealSecret(dataKey, label)
		clear(dataKey)
		if err != nil {
			return 0, fmt.Errorf("rotate: dataset %s: %w", k.name, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE datasets SET sealed_key = ? WHERE id = ?`, resealed, k.id); err != nil {
			return 0, unavailable(fmt.Errorf("rotate: dataset %s: %w", k.name, err))
		}
	}
	return len(keys), nil
}

// ownerKeyRow is a rotation as the key history records it.
type ownerKeyRow struct {
	did, statement, cosignature, handover string
	from, index                           uint64
}

func (v *Vault) rotationRows(ctx context.Context, q queryer) ([]ownerKeyRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT did, from_size, statement, cosignature, entry_index, handover FROM owner_keys WHERE seq > 0 ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("read key rotations: %w", err)
	}
	defer rows.Close()
	var out []ownerKeyRow
	for rows.Next() {
		var r ownerKeyRow
		if err := rows.Scan(&r.did, &r.from, &r.statement, &r.cosignature, &r.index, &r.handover); err != nil {
			return nil, fmt.Errorf("read key rotations: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Rotations returns the chain of the owner's key rotations, oldest first,
// each link with what verifies it offline (ledger.VerifyRotationChain):
// the statement and its co-signature, the did.rotated entry, the handover
// and successor checkpoints, the entry's inclusion under the handover and
// the consistency proofs from the statement's tree and from the previous
// handover. A vault never rotated has an empty chain.
//
// It reads outside any transaction (a transaction here would take the
// write lock, and the endpoint is public): everything it reads — key
// history rows, log entries and nodes, checkpoints of sizes already
// committed — never changes once written.
func (v *Vault) Rotations(ctx context.Context) ([]ledger.RotationLink, error) {
	rows, err := v.rotationRows(ctx, v.db)
	if err != nil {
		return nil, err
	}
	return v.rotationLinks(ctx, rows)
}

// rotationLinks reads what serves each rotation of rows as a link (see
// Rotations).
func (v *Vault) rotationLinks(ctx context.Context, rows []ownerKeyRow) ([]ledger.RotationLink, error) {
	links := []ledger.RotationLink{}
	lr := leafReader{v.db}
	var prevSize uint64
	for _, r := range rows {
		var err error
		l := ledger.RotationLink{Statement: r.statement, Cosignature: r.cosignature, Index: r.index, Handover: r.handover}
		if err := v.db.QueryRowContext(ctx, `SELECT entry FROM log_entries WHERE idx = ?`, r.index).Scan(&l.Entry); err != nil {
			return nil, fmt.Errorf("key rotation at %d: entry: %w", r.index, err)
		}
		if err := v.db.QueryRowContext(ctx, `SELECT note FROM checkpoints WHERE size = ?`, r.from).Scan(&l.Successor); err != nil {
			return nil, fmt.Errorf("key rotation at %d: successor checkpoint: %w", r.index, err)
		}
		if l.InclusionProof, err = ledger.InclusionProof(ctx, lr, r.index, r.from); err != nil {
			return nil, fmt.Errorf("key rotation at %d: %w", r.index, err)
		}
		if l.StatementProof, err = ledger.ConsistencyProof(ctx, lr, r.index, r.from); err != nil {
			return nil, fmt.Errorf("key rotation at %d: %w", r.index, err)
		}
		if prevSize > 0 {
			if l.ChainProof, err = ledger.ConsistencyProof(ctx, lr, prevSize, r.from); err != nil {
				return nil, fmt.Errorf("key rotation at %d: %w", r.index, err)
			}
		}
		prevSize = r.from
		links = append(links, l)
	}
	return links, nil
}

// verifyRotations checks every rotation in the key history against the
// log whose recomputed roots are roots (by size): each link verifies
// (statement, co-signature, entry, handover, successor), its handover
// is over the recomputed tree, the chain starts at the vault's first DID
// and ends at the current one, and each key signs from its handover on.
func (v *Vault) verifyRotations(ctx context.Context, roots map[uint64][]byte) error {
	rows, err := v.rotationRows(ctx, v.db)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	// The links of the rows just read, not of a second read that a
	// rotation committing meanwhile would make longer.
	links, err := v.rotationLinks(ctx, rows)
	if err != nil {
		return err
	}
	var first string
	if err := v.db.QueryRowContext(ctx, `SELECT did FROM owner_keys WHERE seq = 0`).Scan(&first); err != nil {
		return fmt.Errorf("read the first owner key: %w", err)
	}
	verified, err := ledger.VerifyRotationChain(links, first)
	if err != nil {
		return fmt.Errorf("key rotations: %w", err)
	}
	if len(verified) != len(rows) {
		return fmt.Errorf("key rotations: %d in the history, %d verify from the first key", len(rows), len(verified))
	}
	for i, r := range verified {
		if !bytes.Equal(r.Handover.Root, roots[r.Handover.Size]) {
			return fmt.Errorf("key rotation %d: the handover is over another tree than the log's", i+1)
		}
		if r.Rotation.New != rows[i].did || r.Handover.Size != rows[i].from {
			return fmt.Errorf("key rotation %d: does not match the key history", i+1)
		}
	}
	if verified[len(verified)-1].Rotation.New != v.DID() {
		return fmt.Errorf("key rotations: the chain does not end at the owner's DID")
	}
	return nil
}
