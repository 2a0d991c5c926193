package ledger

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/trove-project/trove/did"
)

// Claim states: owed until the requester acknowledges or disputes it; a
// claim under the share rule is settled instead of acknowledged.
const (
	ClaimOwed              = "owed"
	ClaimStateAcknowledged = "acknowledged"
	ClaimStateDisputed     = "disputed"
	ClaimStateSettled      = "settled"
)

// ShareContribution is a claim's share rule when its consent shares each
// training round's pool by contribution: the claim's amount is then
// provisional (the price per round) until the requester settles it with
// the coordinator's Contribution credential.
const ShareContribution = "contribution"

// Pricing units of a consent's price.
const (
	PerRun      = "run"       // the price is per run
	Per1000Rows = "1000_rows" // the price is per started 1,000 rows read
)

// Responses a requester can make to a claim.
const (
	Acknowledge = "acknowledge"
	Dispute     = "dispute"
	// Settle answers a claim under the share rule with the Contribution
	// credential that says what the round pays the vault.
	Settle = "settle"
)

// Limits on claim material.
const (
	maxCurrencyLen  = 16   // a currency or token code
	MaxReasonLen    = 1000 // a dispute's reason, in bytes
	maxClaimReceipt = 1000 // receipts one claim may reference
	// MaxContributionLen bounds the Contribution credential a settlement
	// carries, in bytes.
	MaxContributionLen = 8 << 10
)

// Claim is what a requester owes the owner for one run, created from its
// receipt and signed by the vault (Token). The requester acknowledges it
// or disputes it with a reason (Response, its signed statement); a
// disputed claim stays, with both statements. A claim under the share
// rule (Share) names a provisional Amount; the requester settles it with
// the training coordinator's Contribution credential, which sets what is
// owed (Settled).
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
	// Per is the pricing unit: PerRun or Per1000Rows.
	Per string `json:"per"`
	// Quantity is how many units Amount is for.
	Quantity uint64 `json:"quantity"`
	// Share is the share rule: "" (Amount is owed) or ShareContribution
	// (Amount is provisional until settled).
	Share string `json:"share,omitempty"`
	// CreatedAt is when the claim was created, in UTC.
	CreatedAt time.Time `json:"created_at"`
	// Token is the vault's JWS over the claim (see IssueClaim).
	Token string `json:"token,omitempty"`
	// State is ClaimOwed, ClaimStateAcknowledged, ClaimStateDisputed or
	// ClaimStateSettled.
	State string `json:"state"`
	// Settled is what a settled claim is owed, in minor units of Currency.
	Settled *int64 `json:"settled,omitempty"`
	// Contribution is the Contribution credential (VC-JWT) a settled claim
	// was settled with.
	Contribution string `json:"contribution,omitempty"`
	// Response is the requester's signed acknowledgement, dispute or
	// settlement.
	Response string `json:"response,omitempty"`
	// Reason is the requester's reason for a dispute.
	Reason string `json:"reason,omitempty"`
	// RespondedAt is when the vault recorded the response.
	RespondedAt *time.Time `json:"responded_at,omitempty"`
}

// ClaimAmount returns what a run costs at price minor units per unit:
// per run, or per started 1,000 rows of rowsRead. It refuses an unknown
// unit, a negative price or an amount that overflows.
func ClaimAmount(per string, price int64, rowsRead uint64) (amount int64, quantity uint64, err error) {
	if price < 0 {
		return 0, 0, fmt.Errorf("claim amount: negative price %d: %w", price, ErrMalformed)
	}
	switch per {
	case PerRun:
		quantity = 1
	case Per1000Rows:
		quantity = rowsRead / 1000
		if rowsRead%1000 != 0 {
			quantity++
		}
	default:
		return 0, 0, fmt.Errorf("claim amount: unknown pricing unit %q: %w", short(per), ErrMalformed)
	}
	if quantity > 0 && uint64(price) > math.MaxInt64/quantity {
		return 0, 0, fmt.Errorf("claim amount: %d × %d overflows: %w", price, quantity, ErrOutOfRange)
	}
	return price * int64(quantity), quantity, nil
}

// ClaimFromReceipt returns the claim, in state ClaimOwed, for the run r
// records: amount minor units of currency for quantity units of per.
func ClaimFromReceipt(id string, r ReceiptClaims, amount int64, currency, per string, quantity uint64, now time.Time) Claim {
	return Claim{
		ID:        id,
		ReceiptID: r.ID,
		JobID:     r.JobID,
		ConsentID: r.ConsentID,
		Requester: r.Requester,
		Vault:     r.Vault,
		Amount:    amount,
		Currency:  currency,
		Per:       per,
		Quantity:  quantity,
		CreatedAt: now.UTC(),
		State:     ClaimOwed,
	}
}

// Validate checks that the claim is complete: identifiers present, a
// non-negative amount, a currency code of 1 to 16 letters, digits, '.',
// '_' or '-', a known unit and a known state. It fails with ErrMalformed.
func (c Claim) Validate() error {
	if err := c.validateStatement(); err != nil {
		return err
	}
	switch c.State {
	case ClaimOwed, ClaimStateAcknowledged, ClaimStateDisputed:
		if c.Settled != nil {
			return fmt.Errorf("claim %s: %s but settled: %w", short(c.ID), c.State, ErrMalformed)
		}
	case ClaimStateSettled:
		if c.Share == "" || c.Settled == nil || *c.Settled < 0 {
			return fmt.Errorf("claim %s: settled without the share rule or a non-negative amount: %w", short(c.ID), ErrMalformed)
		}
	default:
		return fmt.Errorf("claim %s: unknown state %q: %w", short(c.ID), short(c.State), ErrMalformed)
	}
	return nil
}

// Owed returns what the claim is owed as it stands: the settled amount of
// a settled claim, else its amount (provisional under the share rule).
func (c Claim) Owed() int64 {
	if c.Settled != nil {
		return *c.Settled
	}
	return c.Amount
}

// Provisional reports whether the claim's amount waits for a settlement.
func (c Claim) Provisional() bool {
	return c.Share != "" && c.State == ClaimOwed
}

// Standing returns the claim's state as an owner reads it: its State, or
// "provisional" for a claim under the share rule not yet settled.
func (c Claim) Standing() string {
	if c.Provisional() {
		return "provisional"
	}
	return c.State
}

// validateStatement checks what the vault signs of a claim.
func (c Claim) validateStatement() error {
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
	if c.Per != PerRun && c.Per != Per1000Rows {
		return fmt.Errorf("claim %s: unknown pricing unit %q: %w", short(c.ID), short(c.Per), ErrMalformed)
	}
	if c.Share != "" && (c.Share != ShareContribution || c.Per != PerRun || c.Quantity != 1) {
		return fmt.Errorf("claim %s: share rule %q on %d × per %s: %w", short(c.ID), short(c.Share), c.Quantity, short(c.Per), ErrMalformed)
	}
	if c.CreatedAt.IsZero() || c.CreatedAt.Unix() <= 0 {
		return fmt.Errorf("claim %s: no creation time: %w", short(c.ID), ErrMalformed)
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

// claimJSON is what the vault signs of a claim: a JWT claims set.
type claimJSON struct {
	ID         string   `json:"jti"`
	Vault      string   `json:"iss"`
	IssuedAt   int64    `json:"iat"`
	Requester  string   `json:"sub"`
	ConsentID  string   `json:"consent_id"`
	JobID      string   `json:"job_id"`
	ReceiptIDs []string `json:"receipt_ids"`
	Amount     int64    `json:"amount"`
	Currency   string   `json:"currency"`
	Per        string   `json:"per"`
	Quantity   uint64   `json:"quantity"`
	Share      string   `json:"share,omitempty"`
}

var claimKeys = []string{"jti", "iss", "iat", "sub", "consent_id", "job_id", "receipt_ids", "amount", "currency", "per", "quantity", "share"}

// IssueClaim signs the claim as a compact JWS (EdDSA) by the vault: its
// id, vault, requester, consent, job, receipts, amount, currency, unit,
// quantity, share rule (when there is one) and creation time (to the
// second). The state is not signed: it changes.
func IssueClaim(s Signer, c Claim) (string, error) {
	if c.Vault != s.DID() {
		return "", fmt.Errorf("issue claim: vault %q is not the signer's DID %q", short(c.Vault), short(s.DID()))
	}
	if err := c.validateStatement(); err != nil {
		return "", fmt.Errorf("issue claim: %w", err)
	}
	payload, err := json.Marshal(claimJSON{ID: c.ID, Vault: c.Vault, IssuedAt: c.CreatedAt.Unix(), Requester: c.Requester,
		ConsentID: c.ConsentID, JobID: c.JobID, ReceiptIDs: []string{c.ReceiptID}, Amount: c.Amount, Currency: c.Currency,
		Per: c.Per, Quantity: c.Quantity, Share: c.Share})
	if err != nil {
		return "", fmt.Errorf("issue claim: %w", err)
	}
	token, err := signCompact(s, payload)
	if err != nil {
		return "", fmt.Errorf("issue claim: %w", err)
	}
	return token, nil
}

// VerifyClaim verifies a claim token against the vault's DID alone and
// returns the claim it states (State empty, Token set).
func VerifyClaim(token, vaultDID string) (*Claim, error) {
	pub, err := vaultKey(vaultDID)
	if err != nil {
		return nil, fmt.Errorf("verify claim: %w", err)
	}
	payload, err := verifyCompact(token, "claim", vaultDID, pub)
	if err != nil {
		return nil, fmt.Errorf("verify claim: %w", err)
	}
	var w claimJSON
	if err := decodeStrict(payload, &w, claimKeys...); err != nil {
		return nil, fmt.Errorf("verify claim: %w: %w", ErrMalformed, err)
	}
	if len(w.ReceiptIDs) != 1 {
		return nil, fmt.Errorf("verify claim: %d receipts, want 1: %w", len(w.ReceiptIDs), ErrMalformed)
	}
	c := &Claim{ID: w.ID, ReceiptID: w.ReceiptIDs[0], JobID: w.JobID, ConsentID: w.ConsentID, Requester: w.Requester,
		Vault: w.Vault, Amount: w.Amount, Currency: w.Currency, Per: w.Per, Quantity: w.Quantity, Share: w.Share,
		CreatedAt: time.Unix(w.IssuedAt, 0).UTC(), Token: token}
	if err := c.validateStatement(); err != nil {
		return nil, fmt.Errorf("verify claim: %w", err)
	}
	if c.Vault != vaultDID {
		return nil, fmt.Errorf("verify claim: issuer %q, want %q: %w", short(c.Vault), short(vaultDID), ErrWrongVault)
	}
	return c, nil
}

// ClaimResponse is a requester's signed answer to a claim: it
// acknowledges the claim, disputes it with a reason, or settles a claim
// under the share rule with a Contribution credential. It names the claim
// and the receipts behind it, so that it covers exactly what the
// requester checked and cannot be replayed onto another claim.
type ClaimResponse struct {
	// Requester is the DID of the requester answering (iss).
	Requester string
	// Vault is the DID of the vault that issued the claim (aud).
	Vault string
	// ClaimID identifies the claim.
	ClaimID string
	// ReceiptIDs identifies the receipts behind it.
	ReceiptIDs []string
	// Action is Acknowledge, Dispute or Settle.
	Action string
	// Reason says why, for a dispute (required then, at most MaxReasonLen
	// bytes of printable UTF-8); empty otherwise.
	Reason string
	// Contribution is the Contribution credential (a compact VC-JWT, at
	// most MaxContributionLen bytes) a settlement settles with; empty
	// otherwise. Whether it verifies is the vault's to check.
	Contribution string
	// IssuedAt is when the requester signed it, to the second.
	IssuedAt time.Time
}

type responseJSON struct {
	Requester  string   `json:"iss"`
	Vault      string   `json:"aud"`
	IssuedAt   int64    `json:"iat"`
	ClaimID    string   `json:"claim_id"`
	ReceiptIDs []string `json:"receipt_ids"`
	Action     string   `json:"action"`
	Reason     string   `json:"reason,omitempty"`
	// Contribution is the settlement's credential.
	Contribution string `json:"contribution,omitempty"`
}

var responseKeys = []string{"iss", "aud", "iat", "claim_id", "receipt_ids", "action", "reason", "contribution"}

func (r ClaimResponse) validate() error {
	if err := requireAll("claim response", "requester", r.Requester, "vault", r.Vault, "claim id", r.ClaimID); err != nil {
		return err
	}
	if len(r.ReceiptIDs) == 0 || len(r.ReceiptIDs) > maxClaimReceipt || slices.Contains(r.ReceiptIDs, "") {
		return fmt.Errorf("claim response: %d receipt ids, want 1 to %d non-empty: %w", len(r.ReceiptIDs), maxClaimReceipt, ErrMalformed)
	}
	switch r.Action {
	case Acknowledge:
		if r.Reason != "" {
			return fmt.Errorf("claim response: an acknowledgement carries no reason: %w", ErrMalformed)
		}
	case Dispute:
		if strings.TrimSpace(r.Reason) == "" {
			return fmt.Errorf("claim response: a dispute needs a reason: %w", ErrMalformed)
		}
	case Settle:
		if r.Reason != "" {
			return fmt.Errorf("claim response: a settlement carries no reason: %w", ErrMalformed)
		}
		if r.Contribution == "" || len(r.Contribution) > MaxContributionLen || strings.Count(r.Contribution, ".") != 2 ||
			strings.ContainsFunc(r.Contribution, func(c rune) bool { return !isBase64URL(c) && c != '.' }) {
			return fmt.Errorf("claim response: a settlement needs a Contribution credential, a compact JWS of at most %d bytes: %w", MaxContributionLen, ErrMalformed)
		}
	default:
		return fmt.Errorf("claim response: action %q, want %s, %s or %s: %w", short(r.Action), Acknowledge, Dispute, Settle, ErrMalformed)
	}
	if r.Action != Settle && r.Contribution != "" {
		return fmt.Errorf("claim response: only a settlement carries a Contribution credential: %w", ErrMalformed)
	}
	if len(r.Reason) > MaxReasonLen || !utf8.ValidString(r.Reason) || strings.ContainsFunc(r.Reason, func(c rune) bool { return !unicode.IsPrint(c) }) {
		return fmt.Errorf("claim response: the reason must be at most %d bytes of printable UTF-8: %w", MaxReasonLen, ErrMalformed)
	}
	if r.IssuedAt.Unix() <= 0 {
		return fmt.Errorf("claim response: issued at %v: %w", r.IssuedAt, ErrMalformed)
	}
	return nil
}

// SignClaimResponse signs r as a compact JWS (EdDSA) by the requester s.
func SignClaimResponse(s Signer, r ClaimResponse) (string, error) {
	if r.Requester != s.DID() {
		return "", fmt.Errorf("sign claim response: requester %q is not the signer's DID %q", short(r.Requester), short(s.DID()))
	}
	r.IssuedAt = r.IssuedAt.UTC().Truncate(time.Second)
	if err := r.validate(); err != nil {
		return "", fmt.Errorf("sign claim response: %w", err)
	}
	payload, err := json.Marshal(responseJSON{Requester: r.Requester, Vault: r.Vault, IssuedAt: r.IssuedAt.Unix(),
		ClaimID: r.ClaimID, ReceiptIDs: r.ReceiptIDs, Action: r.Action, Reason: r.Reason, Contribution: r.Contribution})
	if err != nil {
		return "", fmt.Errorf("sign claim response: %w", err)
	}
	token, err := signCompact(s, payload)
	if err != nil {
		return "", fmt.Errorf("sign claim response: %w", err)
	}
	return token, nil
}

// VerifyClaimResponse verifies a claim response by the key of the
// did:key it names as its issuer and returns it. The caller checks that
// this requester, vault, claim and receipts are the ones expected.
func VerifyClaimResponse(token string) (*ClaimResponse, error) {
	payload, err := compactPayload(token, "claim response")
	if err != nil {
		return nil, fmt.Errorf("verify claim response: %w", err)
	}
	var w responseJSON
	if err := decodeStrict(payload, &w, responseKeys...); err != nil {
		return nil, fmt.Errorf("verify claim response: %w: %w", ErrMalformed, err)
	}
	pub, err := did.PublicKey(w.Requester)
	if err != nil || strings.Contains(w.Requester, "#") {
		return nil, fmt.Errorf("verify claim response: issuer %q is not a did:key: %w", short(w.Requester), ErrMalformed)
	}
	if _, err := verifyCompact(token, "claim response", w.Requester, pub); err != nil {
		return nil, fmt.Errorf("verify claim response: %w", err)
	}
	r := &ClaimResponse{Requester: w.Requester, Vault: w.Vault, ClaimID: w.ClaimID, ReceiptIDs: w.ReceiptIDs,
		Action: w.Action, Reason: w.Reason, Contribution: w.Contribution, IssuedAt: time.Unix(w.IssuedAt, 0).UTC()}
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("verify claim response: %w", err)
	}
	return r, nil
}

func isBase64URL(c rune) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
