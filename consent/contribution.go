package consent

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Context and type of a Contribution credential.
const (
	// ContributionContext names trove's vocabulary for training
	// contributions. It is an identifier only: nothing is fetched.
	ContributionContext = "https://trove-project.github.io/contexts/contribution/v1"
	// ContributionType is the credential type of a Contribution credential.
	ContributionType = "TroveContribution"
	// MaxTrainingIDLen is the longest training id.
	MaxTrainingIDLen = 200
)

// Contribution is what a federated training's coordinator attests to a
// vault for one round: its share of the round's contribution, the round's
// pool and what the vault is paid of it, whether its update was flagged,
// and the receipt of the job the update came from. Its own rules hold
// whenever it verifies: a flagged update earns nothing, and the payout is
// the share of the pool within one minor unit (PayoutOfShare).
type Contribution struct {
	ID        string    // jti: urn:uuid:<uuid>
	Issuer    string    // the coordinator's DID (iss)
	Subject   string    // the vault's DID (sub)
	IssuedAt  time.Time // iat
	Training  string    // the training run
	Round     int       // 1..; 0 is the feature moments asked before round 1
	Share     float64   // 0..1; its shortest decimal is what the credential states
	Pool      Money     // what the round pays out in all
	Payout    Money     // what this vault is paid of Pool
	Flagged   bool
	ReceiptID string // the vault's receipt for the round's job
	Raw       string
}

type contributionSubject struct {
	ID        string   `json:"id"`
	Training  string   `json:"training"`
	Round     int      `json:"round"`
	Share     string   `json:"share"` // a decimal, so no float rounding differs between readers
	Pool      *vcMoney `json:"pool"`
	Payout    vcMoney  `json:"payout"`
	Flagged   bool     `json:"flagged"`
	ReceiptID string   `json:"receipt"`
}

type vcMoney struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

type contributionVC struct {
	Context           []string            `json:"@context"`
	Type              []string            `json:"type"`
	CredentialSubject contributionSubject `json:"credentialSubject"`
}

// The refusals of a Contribution credential that breaks its own payout
// rules.
const (
	// ErrFlaggedPaid: the credential pays, or gives a share to, an update
	// it says was flagged.
	ErrFlaggedPaid Code = "flagged_paid"
	// ErrPayoutNotShare: the payout is not the credential's share of its
	// pool within one minor unit, or is more than the pool.
	ErrPayoutNotShare Code = "payout_not_share"
)

// MaxPool bounds a round's pool, in minor units.
const MaxPool = 1 << 62

func checkContribution(code Code, c Contribution) error {
	switch {
	case !checkDID(c.Subject):
		return refuseField(code, "sub", "not a DID")
	case c.Training == "" || len(c.Training) > MaxTrainingIDLen:
		return refuseField(code, "credentialSubject.training", "must be 1 to 200 bytes")
	case c.Round < 0 || c.Round > 1_000_000:
		return refuseField(code, "credentialSubject.round", "must be from 0 (the feature moments) to 1000000")
	case !(c.Share >= 0 && c.Share <= 1):
		return refuseField(code, "credentialSubject.share", "must be in [0, 1]")
	case c.Pool.Amount < 0 || c.Pool.Amount > MaxPool || !currencyRE.MatchString(c.Pool.Currency):
		return refuseField(code, "credentialSubject.pool", "must be a non-negative amount (at most 2^62) in a currency of 3 to 12 uppercase letters or digits")
	case c.Payout.Amount < 0 || c.Payout.Currency != c.Pool.Currency:
		return refuseField(code, "credentialSubject.payout", "must be a non-negative amount in the pool's currency")
	case len(c.ReceiptID) > 200:
		return refuseField(code, "credentialSubject.receipt", "over 200 bytes")
	}
	if c.Flagged && (c.Share != 0 || c.Payout.Amount != 0) {
		return refuseField(ErrFlaggedPaid, "credentialSubject.flagged", "a flagged update earns nothing")
	}
	if !PayoutOfShare(c.Payout.Amount, c.Pool.Amount, c.Share) {
		return refuseField(ErrPayoutNotShare, "credentialSubject.payout", "not the share of the pool within one minor unit")
	}
	return nil
}

// PayoutOfShare reports whether payout is share of pool within one minor
// unit, and at most pool. It computes exactly, in rationals, with share
// as its shortest decimal (what a credential states): money never passes
// through a float.
func PayoutOfShare(payout, pool int64, share float64) bool {
	if payout < 0 || pool < 0 || payout > pool || !(share >= 0 && share <= 1) {
		return false
	}
	s, ok := new(big.Rat).SetString(strconv.FormatFloat(share, 'f', -1, 64))
	if !ok {
		return false
	}
	exact := s.Mul(s, new(big.Rat).SetInt64(pool))
	diff := exact.Sub(exact, new(big.Rat).SetInt64(payout))
	return diff.Abs(diff).Cmp(big.NewRat(1, 1)) <= 0
}

// IssueContribution returns a Contribution credential, a VC-JWT signed by
// the coordinator for the vault c.Subject, with id c.ID (a lowercase
// urn:uuid). A contribution that breaks a rule is refused with
// ErrInvalidRequest naming the field.
func IssueContribution(coordinator Signer, c Contribution, now time.Time) (string, error) {
	if u, err := uuid.Parse(c.ID); err != nil || u.URN() != c.ID {
		return "", refuseField(ErrInvalidRequest, "jti", "not a lowercase urn:uuid")
	}
	if err := checkContribution(ErrInvalidRequest, c); err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Code = ErrInvalidRequest
		}
		return "", err
	}
	return sign(coordinator, TypeJWT, map[string]any{
		"iss": coordinator.DID(),
		"sub": c.Subject,
		"jti": c.ID,
		"iat": numericDate(now.UTC().Truncate(time.Second)),
		"vc": contributionVC{
			Context: []string{CredentialsContext, ContributionContext},
			Type:    []string{"VerifiableCredential", ContributionType},
			CredentialSubject: contributionSubject{ID: c.Subject, Training: c.Training, Round: c.Round,
				Share: strconv.FormatFloat(c.Share, 'f', -1, 64), Pool: &vcMoney{c.Pool.Amount, c.Pool.Currency},
				Payout:  vcMoney{c.Payout.Amount, c.Payout.Currency},
				Flagged: c.Flagged, ReceiptID: c.ReceiptID},
		},
	})
}

// VerifyContribution verifies a Contribution credential on the strict
// path (the coordinator's signature from iss) and reads it. Besides the
// format (ErrBadToken), it refuses a flagged update that is paid
// (ErrFlaggedPaid) and a payout that is not the share of the pool
// (ErrPayoutNotShare). Whether the credential is for a given claim — its
// vault, receipt, currency and price — is the caller's to check.
func VerifyContribution(token string, now time.Time) (*Contribution, error) {
	cl, err := verifyCompact(token, TypeJWT, now, Skew)
	if err != nil {
		return nil, err
	}
	raw, ok := cl.all["vc"]
	if !ok {
		return nil, refuseField(ErrBadToken, "vc", "missing")
	}
	var vc contributionVC
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&vc); err != nil {
		return nil, &Error{Code: ErrBadToken, Field: "vc", Msg: "not a contribution credential", Err: err}
	}
	if len(vc.Context) == 0 || vc.Context[0] != CredentialsContext || !slices.Contains(vc.Type, "VerifiableCredential") || !slices.Contains(vc.Type, ContributionType) {
		return nil, refuseField(ErrBadToken, "vc.type", "must include VerifiableCredential and "+ContributionType)
	}
	s := vc.CredentialSubject
	if s.ID != cl.sub {
		return nil, refuseField(ErrBadToken, "credentialSubject.id", "differs from sub")
	}
	share, err := strconv.ParseFloat(s.Share, 64)
	if err != nil || math.IsNaN(share) {
		return nil, refuseField(ErrBadToken, "credentialSubject.share", "not a decimal")
	}
	if s.Pool == nil {
		return nil, refuseField(ErrBadToken, "credentialSubject.pool", "missing")
	}
	c := Contribution{ID: cl.jti, Issuer: cl.iss, Subject: cl.sub, IssuedAt: cl.iat, Training: s.Training, Round: s.Round,
		Share: share, Pool: Money{Amount: s.Pool.Amount, Currency: s.Pool.Currency}, Payout: Money{Amount: s.Payout.Amount, Currency: s.Payout.Currency},
		Flagged: s.Flagged, ReceiptID: s.ReceiptID, Raw: token}
	if err := checkContribution(ErrBadToken, c); err != nil {
		return nil, err
	}
	return &c, nil
}
