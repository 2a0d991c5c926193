package vault

import (
	"context"
	"fmt"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/ledger"
)

// Claims lists every compensation claim, newest first.
func (v *Vault) Claims(ctx context.Context) ([]ledger.Claim, error) {
	return v.claims(ctx, "")
}

// Claim returns one claim by id.
func (v *Vault) Claim(ctx context.Context, id string) (*ledger.Claim, error) {
	cs, err := v.claims(ctx, `WHERE claims.id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, trove.Errorf(trove.ENOTFOUND, "no claim %q", id)
	}
	return &cs[0], nil
}

func (v *Vault) claims(ctx context.Context, where string, args ...any) ([]ledger.Claim, error) {
	rows, err := v.db.QueryContext(ctx, `SELECT id, receipt_id, job_id, consent_id, requester, amount, currency, state, created_at
		FROM claims `+where+` ORDER BY created_at DESC, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list claims: %w", err)
	}
	defer rows.Close()
	var out []ledger.Claim
	for rows.Next() {
		var c ledger.Claim
		var created string
		if err := rows.Scan(&c.ID, &c.ReceiptID, &c.JobID, &c.ConsentID, &c.Requester, &c.Amount, &c.Currency, &c.State, &created); err != nil {
			return nil, fmt.Errorf("list claims: %w", err)
		}
		if c.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		c.Vault = v.DID()
		out = append(out, c)
	}
	return out, rows.Err()
}
