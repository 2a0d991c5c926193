package consent

import (
	"time"
)

// Request is a consent request: what a requester asks a vault's owner to
// allow. The requester signs it (SignRequest); the vault verifies it
// (VerifyRequest) and keeps it until the owner decides.
type Request struct {
	ID          string       `json:"id"`        // chosen (at random) by the requester; the token's jti
	Requester   string       `json:"requester"` // the requester's DID; the token's iss
	Vault       string       `json:"vault"`     // the vault's DID; the token's aud
	Dataset     string       `json:"dataset"`
	Algorithm   string       `json:"algorithm"`         // lowercase hex sha256 of a wasm module, or a built-in id
	Columns     []string     `json:"columns,omitempty"` // the columns asked for; none means all
	Purpose     string       `json:"purpose"`           // free text, at most MaxPurposeLen characters
	PurposeCode string       `json:"purpose_code"`      // one of PurposeCodes
	MaxRuns     int          `json:"max_runs"`          // 1 to MaxRuns
	Output      OutputPolicy `json:"output"`
	Price       Money        `json:"price"`           // per Per
	Per         string       `json:"per"`             // PerRun, PerRound or Per1000Rows
	Share       string       `json:"share,omitempty"` // the share rule: "" or ShareContribution (per round only)
	ExpiresAt   time.Time    `json:"expires_at"`      // when the requested consent should end; the token's exp
	CreatedAt   time.Time    `json:"created_at"`      // the token's iat
}

// Terms returns the terms the request asks for, without a dataset digest
// (the vault knows it) and with Columns as asked (none means all).
func (r Request) Terms() Terms {
	return Terms{
		Vault: r.Vault, Dataset: r.Dataset, Algorithm: r.Algorithm, Columns: r.Columns,
		Purpose: r.Purpose, PurposeCode: r.PurposeCode, MaxRuns: r.MaxRuns,
		Output: r.Output, Price: r.Price, Per: r.Per, Share: r.Share,
	}
}

// requestClaim is the consent request's own claim in the token; iss, aud,
// jti, iat and exp carry the rest.
const requestClaim = "consentRequest"

type requestBody struct {
	Dataset     string       `json:"dataset"`
	Algorithm   string       `json:"algorithm"`
	Columns     []string     `json:"columns,omitempty"`
	Purpose     string       `json:"purpose"`
	PurposeCode string       `json:"purposeCode"`
	MaxRuns     int          `json:"maxRuns"`
	Output      OutputPolicy `json:"output"`
	Price       vcPrice      `json:"price"`
}

// SignRequest returns r as a JWS (typ TypeRequest) signed by s. The
// requester is s; CreatedAt becomes now, to the second. A request whose
// fields break the rules VerifyRequest applies is refused here already,
// with ErrInvalidRequest naming the field.
func SignRequest(s Signer, r Request, now time.Time) (string, error) {
	if r.Requester != "" && r.Requester != s.DID() {
		return "", refuseField(ErrIssuerMismatch, "requester", "is not the signer's DID")
	}
	r.Requester = s.DID()
	r.CreatedAt = now.UTC().Truncate(time.Second)
	r.ExpiresAt = r.ExpiresAt.UTC().Truncate(time.Second)
	if err := checkRequest(&r, now); err != nil {
		return "", err
	}
	return sign(s, TypeRequest, map[string]any{
		"iss": r.Requester,
		"aud": r.Vault,
		"jti": r.ID,
		"iat": numericDate(r.CreatedAt),
		"exp": numericDate(r.ExpiresAt),
		requestClaim: requestBody{
			Dataset: r.Dataset, Algorithm: r.Algorithm, Columns: r.Columns,
			Purpose: r.Purpose, PurposeCode: r.PurposeCode, MaxRuns: r.MaxRuns, Output: r.Output,
			Price: vcPrice{Amount: r.Price.Amount, Currency: r.Price.Currency, Per: r.Per, Share: r.Share},
		},
	})
}

// VerifyRequest verifies a consent request addressed to vaultDID: the
// strict token checks (typ TypeRequest), the requester's signature, aud =
// vaultDID (ErrWrongAudience), iat not in the future and exp (the end of
// the requested consent) not past, then every field (ErrInvalidRequest
// naming it).
func VerifyRequest(token string, vaultDID string, now time.Time) (*Request, error) {
	c, err := verifyCompact(token, TypeRequest, now, Skew)
	if err != nil {
		return nil, err
	}
	if len(c.aud) != 1 || c.aud[0] != vaultDID {
		return nil, refuseField(ErrWrongAudience, "aud", "the request is addressed to another vault")
	}
	r := &Request{ID: c.jti, Requester: c.iss, Vault: vaultDID, CreatedAt: c.iat, ExpiresAt: c.exp}
	if c.iat.IsZero() {
		return nil, refuseField(ErrInvalidRequest, "iat", "missing")
	}
	if c.exp.IsZero() {
		return nil, refuseField(ErrInvalidRequest, "exp", "missing")
	}
	body, present, ok := c.all.object(requestClaim)
	if !present || !ok {
		return nil, refuseField(ErrInvalidRequest, requestClaim, "missing or not an object")
	}
	if err := readRequestBody(body, r); err != nil {
		return nil, err
	}
	if err := checkRequest(r, now); err != nil {
		return nil, err
	}
	return r, nil
}

func readRequestBody(f fields, r *Request) error {
	var ok, present bool
	for _, s := range []struct {
		name string
		dst  *string
	}{{"dataset", &r.Dataset}, {"algorithm", &r.Algorithm}, {"purpose", &r.Purpose}, {"purposeCode", &r.PurposeCode}} {
		if *s.dst, present, ok = f.str(s.name); !present || !ok {
			return refuseField(ErrInvalidRequest, s.name, "missing or not a string")
		}
	}
	if r.Columns, _, ok = f.strings("columns", false); !ok {
		return refuseField(ErrInvalidRequest, "columns", "not an array of strings")
	}
	out, err := readOutput(f, ErrInvalidRequest, "output")
	if err != nil {
		return err
	}
	r.Output = out
	n, present, ok := f.integer("maxRuns")
	if !present || !ok || n < 1 || n > MaxRuns {
		return refuseField(ErrInvalidRequest, "maxRuns", "must be an integer from 1 to 10000")
	}
	r.MaxRuns = int(n)
	price, present, ok := f.object("price")
	if !present || !ok {
		return refuseField(ErrInvalidRequest, "price", "missing or not an object")
	}
	m, err := readMoney(price, ErrInvalidRequest, "price")
	if err != nil {
		return err
	}
	r.Price = m
	if r.Per, present, ok = price.str("per"); !present || !ok {
		return refuseField(ErrInvalidRequest, "price.per", "missing or not a string")
	}
	if r.Share, _, ok = price.str("share"); !ok {
		return refuseField(ErrInvalidRequest, "price.share", "not a string")
	}
	return nil
}

// readOutput reads the output policy object under "output"; errors name
// it as name.
func readOutput(f fields, code Code, name string) (OutputPolicy, error) {
	var o OutputPolicy
	obj, present, ok := f.object("output")
	if !present || !ok {
		return o, refuseField(code, name, "missing or not an object")
	}
	if o.Policy, present, ok = obj.str("policy"); !present || !ok {
		return o, refuseField(code, name+".policy", "missing or not a string")
	}
	if o.Epsilon, _, ok = obj.number("epsilon"); !ok {
		return o, refuseField(code, name+".epsilon", "not a number")
	}
	if o.Delta, _, ok = obj.number("delta"); !ok {
		return o, refuseField(code, name+".delta", "not a number")
	}
	return o, nil
}

func readMoney(f fields, code Code, prefix string) (Money, error) {
	var m Money
	var present, ok bool
	if m.Amount, present, ok = f.integer("amount"); !present || !ok {
		return m, refuseField(code, prefix+".amount", "missing or not an integer")
	}
	if m.Currency, present, ok = f.str("currency"); !present || !ok {
		return m, refuseField(code, prefix+".currency", "missing or not a string")
	}
	return m, nil
}

// checkRequest applies the rules of a request's fields.
func checkRequest(r *Request, now time.Time) error {
	if !requestIDRE.MatchString(r.ID) {
		return refuseField(ErrInvalidRequest, "jti", "1 to 128 letters, digits, '.', '_', ':' or '-'")
	}
	if !checkDID(r.Requester) {
		return refuseField(ErrInvalidRequest, "iss", "not a DID")
	}
	if err := checkTerms(ErrInvalidRequest, r.Terms(), requestNames); err != nil {
		return err
	}
	if !r.ExpiresAt.After(now) || !r.ExpiresAt.After(r.CreatedAt) {
		return refuseField(ErrInvalidRequest, "exp", "the requested consent must end after it is asked for")
	}
	return nil
}
