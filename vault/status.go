package vault

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/ledger"
)

// StatusListID is the name of the vault's one revocation status list, the
// {list} of GET /v1/status/{list}.
const StatusListID = "1"

// statusListURL returns the URL of the status list named list.
func (v *Vault) statusListURL(list string) string {
	return strings.TrimRight(v.cfg.PublicURL, "/") + "/v1/status/" + list
}

// allocateStatus picks a free bit, at random so that an index tells
// nothing of when or in what order consents were given.
func (v *Vault) allocateStatus(ctx context.Context, tx *sql.Tx) (consent.StatusEntry, error) {
	var used int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM consents WHERE status_list = ?`, StatusListID).Scan(&used); err != nil {
		return consent.StatusEntry{}, err
	}
	if used >= consent.StatusListBits/2 {
		return consent.StatusEntry{}, trove.Errorf(trove.EUNAVAILABLE, "the status list is half full; no more consents can be given")
	}
	for {
		var b [4]byte
		if _, err := io.ReadFull(v.cfg.Rand, b[:]); err != nil {
			return consent.StatusEntry{}, fmt.Errorf("allocate status index: %w", err)
		}
		idx := int(binary.BigEndian.Uint32(b[:]) % consent.StatusListBits)
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM consents WHERE status_list = ? AND status_index = ?`, StatusListID, idx).Scan(&n); err != nil {
			return consent.StatusEntry{}, err
		}
		if n == 0 {
			return consent.StatusEntry{ListCredential: v.statusListURL(StatusListID), Index: idx}, nil
		}
	}
}

// Revoke revokes an issued consent: its bit is set in the status list at
// once, and jobs presenting it are refused from then on. The revocation is
// logged.
func (v *Vault) Revoke(ctx context.Context, consentID string) (*Consent, error) {
	now := v.now()
	err := v.write(ctx, func(tx *sql.Tx) error {
		var requester string
		var revoked sql.NullString
		var idx int
		err := tx.QueryRowContext(ctx, `SELECT requester, revoked_at, status_index FROM consents WHERE id = ?`, consentID).Scan(&requester, &revoked, &idx)
		if errors.Is(err, sql.ErrNoRows) {
			return trove.Errorf(trove.ENOTFOUND, "no consent %q", consentID)
		} else if err != nil {
			return err
		}
		if revoked.Valid {
			return trove.Errorf(trove.ECONFLICT, "consent %s is already revoked", consentID)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE consents SET revoked_at = ? WHERE id = ?`, formatTime(now), consentID); err != nil {
			return err
		}
		_, err = v.appendLog(ctx, tx, ledger.Entry{
			Type: ledger.ConsentRevoked, Time: now, Subject: requester,
			Fields: map[string]string{"consent_id": consentID, "status_list": StatusListID, "status_index": fmt.Sprint(idx), "by": "owner"},
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return v.Consent(ctx, consentID)
}

// Consent returns an issued consent by id.
func (v *Vault) Consent(ctx context.Context, id string) (*Consent, error) {
	c, err := scanConsent(v.db.QueryRowContext(ctx, `SELECT `+consentColumns+` FROM consents WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trove.Errorf(trove.ENOTFOUND, "no consent %q", id)
	} else if err != nil {
		return nil, fmt.Errorf("consent %s: %w", id, err)
	}
	return c, nil
}

// StatusList returns the status list named list as a Bitstring Status
// List credential signed by the owner, valid for Config.StatusTTL.
func (v *Vault) StatusList(ctx context.Context, list string) (string, error) {
	if list != StatusListID {
		return "", trove.Errorf(trove.ENOTFOUND, "no status list %q", list)
	}
	// A process whose key was retired by a rotation elsewhere must not
	// sign lists as the retired DID.
	if err := v.checkOwner(ctx, v.db); err != nil {
		return "", err
	}
	now := v.now()
	bits := consent.NewBitstring(consent.StatusListBits)
	rows, err := v.db.QueryContext(ctx, `SELECT status_index FROM consents WHERE status_list = ? AND revoked_at IS NOT NULL`, list)
	if err != nil {
		return "", fmt.Errorf("status list %s: %w", list, err)
	}
	defer rows.Close()
	for rows.Next() {
		var idx int
		if err := rows.Scan(&idx); err != nil {
			return "", fmt.Errorf("status list %s: %w", list, err)
		}
		if !bits.Set(idx) {
			return "", fmt.Errorf("status list %s: stored index %d out of range", list, idx)
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("status list %s: %w", list, err)
	}
	tok, err := consent.IssueStatusList(v.signer(), v.statusListURL(list), bits, now, v.cfg.StatusTTL)
	if err != nil {
		return "", fmt.Errorf("sign status list %s: %w", list, err)
	}
	return tok, nil
}
