package vault

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/ledger"
)

// Policy returns the active standing rules: an empty rule set (every
// request goes to the owner) until the owner sets one.
func (v *Vault) Policy(ctx context.Context) (*consent.Policy, error) {
	return v.policy(ctx, v.db)
}

func (v *Vault) policy(ctx context.Context, q queryer) (*consent.Policy, error) {
	var body string
	err := q.QueryRowContext(ctx, `SELECT body FROM policies ORDER BY id DESC LIMIT 1`).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return &consent.Policy{Version: consent.PolicyVersion, Rules: []consent.Rule{}}, nil
	} else if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	p, err := consent.ParsePolicy([]byte(body))
	if err != nil {
		return nil, fmt.Errorf("stored policy: %w", err)
	}
	return p, nil
}

// SetPolicy makes p the active standing rules; the change is logged with
// the new rule set's hash. Requests already decided stay decided; pending
// ones wait for the owner.
func (v *Vault) SetPolicy(ctx context.Context, p *consent.Policy) error {
	if err := p.Check(); err != nil {
		return &trove.Error{Code: trove.EINVALID, Reason: "invalid_policy", Message: err.Error()}
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	now := v.now()
	return v.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO policies (hash, body, created_at) VALUES (?, ?, ?)`, p.Hash(), string(body), formatTime(now)); err != nil {
			return err
		}
		_, err := v.appendLog(ctx, tx, ledger.Entry{
			Type: ledger.PolicySet, Time: now, Subject: v.DID(),
			Fields: map[string]string{"rule_set": p.Hash(), "rules": fmt.Sprint(len(p.Rules))},
		})
		return err
	})
}

// applyPolicy lets the standing rules decide a request just received. A
// decision is made in the transaction that stored the request, so that no
// one sees it pending in between; when no rule matches, it stays pending.
func (v *Vault) applyPolicy(ctx context.Context, tx *sql.Tx, r *ConsentRequest, now time.Time) error {
	p, err := v.policy(ctx, tx)
	if err != nil {
		return err
	}
	if len(p.Rules) == 0 {
		return nil
	}
	terms, err := v.requestTerms(ctx, tx, r)
	if err != nil {
		return err
	}
	d := p.Decide(&r.Request, terms.Columns)
	switch d.Decision {
	case consent.DecideApprove:
		return v.approve(ctx, tx, r, terms, now, byRule(d))
	case consent.DecideDeny:
		return v.deny(ctx, tx, r, now, byRule(d))
	}
	return nil
}

// TestPolicy returns what p would decide for the received request id,
// deciding nothing.
func (v *Vault) TestPolicy(ctx context.Context, p *consent.Policy, id string) (consent.Decision, error) {
	var d consent.Decision
	err := v.write(ctx, func(tx *sql.Tx) error {
		r, err := v.consentRequest(ctx, tx, id)
		if err != nil {
			return err
		}
		terms, err := v.requestTerms(ctx, tx, r)
		if err != nil {
			return err
		}
		d = p.Decide(&r.Request, terms.Columns)
		return nil
	})
	return d, err
}
