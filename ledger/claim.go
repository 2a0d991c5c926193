package ledger

import (
	"fmt"
	"time"
)

// ClaimOwed is the state of a claim the requester has not yet settled.
// Issue 5 adds acknowledged and disputed.
const ClaimOwed = "owed"

// maxCurrencyLen bounds a currency or token code.
const maxCurrencyLen = 16

// Claim is what a requester owes the owner for one run, created from its
// receipt.
type Claim struct {
	// ID identifies the claim.
	ID string `json:"id"`
	// ReceiptID identifies the receipt the claim is for.
	ReceiptID string `json:"receipt_id"`
	// JobID identifies the job that ran.
	JobID string `json:"job_id"`
	// ConsentID identifies the consent whose terms set the amount.
	ConsentID string `json:"consent_id"`
	// Requester is the DID of who owes.
	Requester string `json:"requester"`
	// Vault is the DID of the vault owed.
	Vault string `json:"vault"`
	// Amount is in integer minor units of Currency (cents for USD),
	// never a float.
	Amount int64 `json:"amount"`
	// Currency is an ISO 4217 code or a token code.
	Currency string `json:"currency"`
	// CreatedAt is when the claim was created, in UTC.
	CreatedAt time.Time `json:"created_at"`
	// State is ClaimOwed.
	State string `json:"state"`
}

// ClaimFromReceipt returns the claim, in state ClaimOwed, for the run r
// records, at the consent's price of amount minor units of currency.
func ClaimFromReceipt(id string, r ReceiptClaims, amount int64, currency string, now time.Time) Claim {
	return Claim{
		ID:        id,
		ReceiptID: r.ID,
		JobID:     r.JobID,
		ConsentID: r.ConsentID,
		Requester: r.Requester,
		Vault:     r.Vault,
		Amount:    amount,
		Currency:  currency,
		CreatedAt: now.UTC(),
		State:     ClaimOwed,
	}
}

// Validate checks that the claim is complete: identifiers present, a
// non-negative amount, a currency code of 1 to 16 letters, digits, '.',
// '_' or '-', and a known state. It fails with ErrMalformed.
func (c Claim) Validate() error {
	if err := requireAll("claim", "id", c.ID, "receipt id", c.ReceiptID, "job id", c.JobID,
		"consent id", c.ConsentID, "requester", c.Requester, "vault", c.Vault); err != nil {
		return err
	}
	if c.Amount < 0 {
		return fmt.Errorf("claim %s: negative amount %d: %w", short(c.ID), c.Amount, ErrMalformed)
	}
	if !validCurrency(c.Currency) {
		return fmt.Errorf("claim %s: currency %q: %w", short(c.ID), short(c.Currency), ErrMalformed)
	}
	if c.CreatedAt.IsZero() {
		return fmt.Errorf("claim %s: no creation time: %w", short(c.ID), ErrMalformed)
	}
	if c.State != ClaimOwed {
		return fmt.Errorf("claim %s: unknown state %q: %w", short(c.ID), short(c.State), ErrMalformed)
	}
	return nil
}

func validCurrency(s string) bool {
	if s == "" || len(s) > maxCurrencyLen {
		return false
	}
	for _, r := range s {
		ok := r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}
