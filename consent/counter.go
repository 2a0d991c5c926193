package consent

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"
)

// Token types of a negotiation.
const (
	TypeCounter = "trove-counter+jwt" // an owner's counter-offer
	TypeReply   = "trove-reply+jwt"   // a requester's answer to it
)

// Answers to a counter-offer.
const (
	Accept  = "accept"
	Decline = "decline"
)

// MaxReplyTTL is the longest a reply to a counter-offer may be valid.
const MaxReplyTTL = 10 * time.Minute

// Counter is an owner's counter-offer: the terms the owner would grant
// instead of those a request asked for, never wider (CheckNarrower).
type Counter struct {
	ID          string    // jti
	Vault       string    // the owner's DID; iss
	Requester   string    // aud
	RequestID   string    // the request it answers
	RequestHash string    // hex SHA-256 of the request token it answers
	Terms       Terms     // without DatasetDigest: the vault fills it in when it issues
	ExpiresAt   time.Time // the end of the consent offered; exp
	CreatedAt   time.Time // iat
	Raw         string
}

const counterClaim = "counterOffer"

type counterBody struct {
	Request     string `json:"request"`
	RequestHash string `json:"requestHash"`
	requestBody
}

// TokenHash returns the hex SHA-256 of a token, by which a counter-offer
// names its request and a reply its counter-offer.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// SignCounter returns c as a JWS (typ TypeCounter) signed by the owner.
// The terms must be valid request terms.
func SignCounter(owner Signer, c Counter, now time.Time) (string, error) {
	c.Vault = owner.DID()
	c.CreatedAt = now.UTC().Truncate(time.Second)
	c.ExpiresAt = c.ExpiresAt.UTC().Truncate(time.Second)
	if err := c.check(); err != nil {
		return "", err
	}
	t := c.Terms
	return sign(owner, TypeCounter, map[string]any{
		"iss": c.Vault, "aud": c.Requester, "jti": c.ID,
		"iat": numericDate(c.CreatedAt), "exp": numericDate(c.ExpiresAt),
		counterClaim: counterBody{
			Request: c.RequestID, RequestHash: c.RequestHash,
			requestBody: requestBody{
				Dataset: t.Dataset, Algorithm: t.Algorithm, Columns: t.Columns, Purpose: t.Purpose,
				PurposeCode: t.PurposeCode, MaxRuns: t.MaxRuns, Output: t.Output,
				Price: vcPrice{Amount: t.Price.Amount, Currency: t.Price.Currency, Per: t.Per, Share: t.Share},
			},
		},
	})
}

func (c *Counter) check() error {
	switch {
	case !requestIDRE.MatchString(c.ID):
		return refuseField(ErrInvalidRequest, "jti", "not a valid id")
	case !requestIDRE.MatchString(c.RequestID):
		return refuseField(ErrInvalidRequest, counterClaim+".request", "not a valid request id")
	case !sha256HexRE.MatchString(c.RequestHash):
		return refuseField(ErrInvalidRequest, counterClaim+".requestHash", "not a lowercase hex sha256")
	case !checkDID(c.Requester):
		return refuseField(ErrInvalidRequest, "aud", "not a DID")
	case !c.ExpiresAt.After(c.CreatedAt):
		return refuseField(ErrInvalidRequest, "exp", "the consent offered must end after it is offered")
	}
	c.Terms.Vault = c.Vault
	return checkTerms(ErrInvalidRequest, c.Terms, requestNames)
}

// VerifyCounter verifies a counter-offer as its requester: signed by the
// vault vaultDID, addressed to requesterDID.
func VerifyCounter(token, vaultDID, requesterDID string, now time.Time) (*Counter, error) {
	cl, err := verifyCompact(token, TypeCounter, now, Skew)
	if err != nil {
		return nil, err
	}
	if cl.iss != vaultDID {
		return nil, refuseField(ErrIssuerMismatch, "iss", "the counter-offer is not from this vault")
	}
	if len(cl.aud) != 1 || cl.aud[0] != requesterDID {
		return nil, refuseField(ErrWrongAudience, "aud", "the counter-offer is for another requester")
	}
	if cl.iat.IsZero() || cl.exp.IsZero() {
		return nil, refuseField(ErrBadToken, "iat", "iat and exp are required")
	}
	body, present, ok := cl.all.object(counterClaim)
	if !present || !ok {
		return nil, refuseField(ErrInvalidRequest, counterClaim, "missing or not an object")
	}
	c := &Counter{ID: cl.jti, Vault: cl.iss, Requester: requesterDID, ExpiresAt: cl.exp, CreatedAt: cl.iat, Raw: token}
	c.RequestID, _, _ = body.str("request")
	c.RequestHash, _, _ = body.str("requestHash")
	var r Request
	if err := readRequestBody(body, &r); err != nil {
		return nil, err
	}
	r.Vault = vaultDID
	c.Terms = r.Terms()
	if err := c.check(); err != nil {
		return nil, err
	}
	return c, nil
}

// CheckNarrower refuses offered terms that grant anything asked did not:
// another dataset, algorithm or purpose; more runs; a longer validity;
// columns not asked for; a wider output policy (release is the widest,
// then dp with a larger budget; review may replace either); a lower
// price, another currency or unit, or another share rule (a rule the
// request states is kept exactly: the owner may not drop it, nor add one).
func CheckNarrower(asked Terms, askedEnd time.Time, offered Terms, offeredEnd time.Time, allColumns []string) error {
	field := func(name, msg string) error { return refuseField(ErrInvalidRequest, name, msg) }
	switch {
	case offered.Vault != asked.Vault || offered.Dataset != asked.Dataset || offered.Algorithm != asked.Algorithm:
		return field("dataset", "a counter-offer keeps the vault, dataset and algorithm")
	case offered.Purpose != asked.Purpose || offered.PurposeCode != asked.PurposeCode:
		return field("purpose", "a counter-offer keeps the purpose")
	case offered.MaxRuns > asked.MaxRuns:
		return field("maxRuns", "more runs than asked")
	case offeredEnd.After(askedEnd):
		return field("exp", "a longer validity than asked")
	case offered.Price.Currency != asked.Price.Currency || offered.Per != asked.Per:
		return field("price", "a counter-offer keeps the currency and the pricing unit")
	case offered.Price.Amount < asked.Price.Amount:
		return field("price.amount", "a lower price than offered")
	case offered.Share != asked.Share:
		return field("price.share", "a counter-offer keeps the share rule")
	}
	askedCols := asked.Columns
	if len(askedCols) == 0 {
		askedCols = allColumns
	}
	for _, c := range offered.Columns {
		if !slices.Contains(askedCols, c) {
			return field("columns", "a column not asked for")
		}
	}
	a, o := asked.Output, offered.Output
	switch {
	case o.Policy == OutputReview:
	case o.Policy == OutputDP && a.Policy == OutputRelease:
	case o.Policy == OutputDP && a.Policy == OutputDP:
		if o.Epsilon > a.Epsilon || o.Delta > a.Delta {
			return field("output", "a larger privacy budget than asked")
		}
	case o.Policy == a.Policy:
	default:
		return field("output", "a wider output policy than asked")
	}
	return nil
}

// Reply is a requester's signed answer to a counter-offer.
type Reply struct {
	Requester   string // iss
	Vault       string // aud
	CounterID   string
	CounterHash string // hex SHA-256 of the counter-offer token
	Answer      string // Accept or Decline
	CreatedAt   time.Time
}

const replyClaim = "counterReply"

type replyBody struct {
	Counter     string `json:"counter"`
	CounterHash string `json:"counterHash"`
	Answer      string `json:"answer"`
}

// SignReply returns the requester's answer to the counter-offer token
// counter, as a JWS (typ TypeReply) valid for MaxReplyTTL.
func SignReply(requester Signer, counter *Counter, answer string, now time.Time) (string, error) {
	if answer != Accept && answer != Decline {
		return "", refuseField(ErrInvalidRequest, replyClaim+".answer", "must be accept or decline")
	}
	iat := now.UTC().Truncate(time.Second)
	return sign(requester, TypeReply, map[string]any{
		"iss": requester.DID(), "aud": counter.Vault,
		"iat": numericDate(iat), "exp": numericDate(iat.Add(MaxReplyTTL)),
		replyClaim: replyBody{Counter: counter.ID, CounterHash: TokenHash(counter.Raw), Answer: answer},
	})
}

// VerifyReply verifies a reply addressed to the vault vaultDID.
func VerifyReply(token, vaultDID string, now time.Time) (*Reply, error) {
	cl, err := verifyCompact(token, TypeReply, now, Skew)
	if err != nil {
		return nil, err
	}
	if len(cl.aud) != 1 || cl.aud[0] != vaultDID {
		return nil, refuseField(ErrWrongAudience, "aud", "the reply is addressed to another vault")
	}
	if cl.iat.IsZero() || cl.exp.IsZero() || cl.exp.Sub(cl.iat) > MaxReplyTTL {
		return nil, refuseField(ErrBadToken, "exp", "a reply must have iat and expire within 10 minutes")
	}
	body, present, ok := cl.all.object(replyClaim)
	if !present || !ok {
		return nil, refuseField(ErrInvalidRequest, replyClaim, "missing or not an object")
	}
	r := &Reply{Requester: cl.iss, Vault: vaultDID, CreatedAt: cl.iat}
	r.CounterID, _, _ = body.str("counter")
	r.CounterHash, _, _ = body.str("counterHash")
	r.Answer, _, _ = body.str("answer")
	switch {
	case !requestIDRE.MatchString(r.CounterID):
		return nil, refuseField(ErrInvalidRequest, replyClaim+".counter", "not a valid id")
	case !sha256HexRE.MatchString(r.CounterHash):
		return nil, refuseField(ErrInvalidRequest, replyClaim+".counterHash", "not a lowercase hex sha256")
	case r.Answer != Accept && r.Answer != Decline:
		return nil, refuseField(ErrInvalidRequest, replyClaim+".answer", "must be accept or decline")
	}
	return r, nil
}
