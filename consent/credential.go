package consent

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/hyperledger/aries-framework-go/pkg/doc/verifiable"
)

// Contexts and types of a Consent credential.
const (
	// CredentialsContext is the W3C VC data model's base context; it comes
	// first in every @context.
	CredentialsContext = "https://www.w3.org/2018/credentials/v1"
	// ConsentContext names trove's vocabulary for consent terms. It is an
	// identifier only: no JSON-LD context is ever fetched.
	ConsentContext = "https://trove-project.github.io/contexts/consent/v1"
	// ConsentType is the credential type of a Consent credential.
	ConsentType = "TroveConsent"
)

// Credential is a verified Consent credential.
type Credential struct {
	ID        string // jti: urn:uuid:<uuid>, the consent's id
	Issuer    string // the owner's DID (iss)
	Subject   string // the requester's DID (sub), the only holder who may present it
	NotBefore time.Time
	Expires   time.Time
	IssuedAt  time.Time
	Terms     Terms
	Status    StatusEntry // where its revocation bit is
	Raw       string      // the VC-JWT as received
}

type vcDataset struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

type vcPrice struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Per      string `json:"per"`
	Share    string `json:"share,omitempty"` // the share rule, when there is one
}

type vcSubject struct {
	ID          string       `json:"id"`
	Vault       string       `json:"vault"`
	Dataset     vcDataset    `json:"dataset"`
	Algorithm   string       `json:"algorithm"`
	Columns     []string     `json:"columns"`
	Purpose     string       `json:"purpose"`
	PurposeCode string       `json:"purposeCode"`
	MaxRuns     int          `json:"maxRuns"`
	Output      OutputPolicy `json:"output"`
	Price       vcPrice      `json:"price"`
}

type vcClaim struct {
	Context           []string  `json:"@context"`
	Type              []string  `json:"type"`
	CredentialSubject vcSubject `json:"credentialSubject"`
	CredentialStatus  vcStatus  `json:"credentialStatus"`
}

// Issue returns a Consent credential, a VC-JWT signed by owner, whose
// subject (the only holder who may present it) is the DID subject, valid
// from nbf until exp, allowing t, revocable through status. id is the
// consent's id, of the form urn:uuid:<uuid> in lowercase. Terms that break
// the rules are refused with ErrInvalidRequest naming the field.
func Issue(owner Signer, subject string, t Terms, nbf, exp time.Time, id string, status StatusEntry) (string, error) {
	if u, err := uuid.Parse(id); err != nil || u.URN() != id {
		return "", refuseField(ErrInvalidRequest, "jti", "not a lowercase urn:uuid")
	}
	if !checkDID(subject) {
		return "", refuseField(ErrInvalidRequest, "sub", "not a DID")
	}
	if err := checkTerms(ErrInvalidRequest, t, credentialNames); err != nil {
		return "", err
	}
	if err := status.check(ErrInvalidRequest, "credentialStatus"); err != nil {
		return "", err
	}
	nbf, exp = nbf.UTC().Truncate(time.Second), exp.UTC().Truncate(time.Second)
	if !exp.After(nbf) {
		return "", refuseField(ErrInvalidRequest, "exp", "must be after nbf")
	}
	return sign(owner, TypeJWT, map[string]any{
		"iss": owner.DID(),
		"sub": subject,
		"jti": id,
		"nbf": numericDate(nbf),
		"iat": numericDate(nbf),
		"exp": numericDate(exp),
		"vc": vcClaim{
			Context: []string{CredentialsContext, ConsentContext},
			Type:    []string{"VerifiableCredential", ConsentType},
			CredentialSubject: vcSubject{
				ID:          subject,
				Vault:       t.Vault,
				Dataset:     vcDataset{Name: t.Dataset, Digest: t.DatasetDigest},
				Algorithm:   t.Algorithm,
				Columns:     t.Columns,
				Purpose:     t.Purpose,
				PurposeCode: t.PurposeCode,
				MaxRuns:     t.MaxRuns,
				Output:      t.Output,
				Price:       vcPrice{Amount: t.Price.Amount, Currency: t.Price.Currency, Per: t.Per, Share: t.Share},
			},
			CredentialStatus: status.claim(),
		},
	})
}

// VerifyCredential verifies a Consent credential on the strict path (typ
// JWT or none, the owner's signature from iss, kid if present naming the
// owner's key, nbf/exp against now) and reads its terms. It requires exp,
// sub and a vc claim whose @context starts with CredentialsContext and
// whose type includes ConsentType, and a credentialStatus that is a
// BitstringStatusListEntry for revocation; a credentialSubject.id, vc.issuer or
// vc.id that contradicts sub, iss or jti is refused. jti, iat and nbf may
// be absent, as in credentials made by other VC-JWT libraries.
func VerifyCredential(token string, now time.Time) (*Credential, error) {
	return verifyCredential(context.Background(), didKeys{}, token, now)
}

func verifyCredential(ctx context.Context, keys KeyResolver, token string, now time.Time) (*Credential, error) {
	c, err := verifyCompactWith(ctx, keys, token, TypeJWT, now, Skew)
	if err != nil {
		return nil, err
	}
	if c.exp.IsZero() {
		return nil, refuseField(ErrBadToken, "exp", "a consent must end")
	}
	if !checkDID(c.sub) {
		return nil, refuseField(ErrBadToken, "sub", "missing or not a DID")
	}
	vc, present, ok := c.all.object("vc")
	if !present || !ok {
		return nil, refuseField(ErrBadToken, "vc", "missing or not an object")
	}
	if err := checkVCEnvelope(vc, c); err != nil {
		return nil, err
	}
	terms, err := readTerms(vc, c.sub)
	if err != nil {
		return nil, err
	}
	status, err := readStatus(vc)
	if err != nil {
		return nil, err
	}
	if err := checkModel(token, c); err != nil {
		return nil, err
	}
	return &Credential{
		ID: c.jti, Issuer: c.iss, Subject: c.sub,
		NotBefore: c.nbf, Expires: c.exp, IssuedAt: c.iat,
		Terms: terms, Status: status, Raw: token,
	}, nil
}

// checkVCEnvelope checks the vc claim's @context, type, and the fields
// that repeat the JWT's claims.
func checkVCEnvelope(vc fields, c *claims) error {
	ctx, _, ok := vc.strings("@context", true)
	if !ok || len(ctx) == 0 || ctx[0] != CredentialsContext {
		return refuseField(ErrBadToken, "vc.@context", "must start with "+CredentialsContext)
	}
	types, _, ok := vc.strings("type", true)
	if !ok || !slices.Contains(types, "VerifiableCredential") || !slices.Contains(types, ConsentType) {
		return refuseField(ErrBadToken, "vc.type", "must include VerifiableCredential and "+ConsentType)
	}
	if id, present, ok := vc.str("id"); present && (!ok || id != c.jti) {
		return refuseField(ErrBadToken, "vc.id", "differs from jti")
	}
	if _, present := vc["issuer"]; present {
		iss, _, ok := vc.str("issuer")
		if !ok {
			obj, _, _ := vc.object("issuer")
			iss, _, ok = obj.str("id")
		}
		if !ok || iss != c.iss {
			return refuseField(ErrIssuerMismatch, "vc.issuer", "differs from iss")
		}
	}
	return nil
}

// readTerms reads and checks vc.credentialSubject.
func readTerms(vc fields, sub string) (Terms, error) {
	var t Terms
	var err error
	cs, present, ok := vc.object("credentialSubject")
	if !present || !ok {
		return t, refuseField(ErrBadToken, "credentialSubject", "missing or not a single object")
	}
	if id, present, ok := cs.str("id"); present && (!ok || id != sub) {
		return t, refuseField(ErrBadToken, "credentialSubject.id", "differs from sub")
	}
	for _, s := range []struct {
		name string
		dst  *string
	}{{"vault", &t.Vault}, {"algorithm", &t.Algorithm}, {"purpose", &t.Purpose}, {"purposeCode", &t.PurposeCode}} {
		if *s.dst, present, ok = cs.str(s.name); !present || !ok {
			return t, refuseField(ErrBadToken, "credentialSubject."+s.name, "missing or not a string")
		}
	}
	ds, present, ok := cs.object("dataset")
	if !present || !ok {
		return t, refuseField(ErrBadToken, "credentialSubject.dataset", "missing or not an object")
	}
	if t.Dataset, present, ok = ds.str("name"); !present || !ok {
		return t, refuseField(ErrBadToken, "credentialSubject.dataset.name", "missing or not a string")
	}
	if t.DatasetDigest, present, ok = ds.str("digest"); !present || !ok {
		return t, refuseField(ErrBadToken, "credentialSubject.dataset.digest", "missing or not a string")
	}
	if t.Columns, present, ok = cs.strings("columns", false); !present || !ok {
		return t, refuseField(ErrBadToken, "credentialSubject.columns", "missing or not an array of strings")
	}
	if t.Output, err = readOutput(cs, ErrBadToken, "credentialSubject.output"); err != nil {
		return t, err
	}
	n, present, ok := cs.integer("maxRuns")
	if !present || !ok || n < 1 || n > MaxRuns {
		return t, refuseField(ErrBadToken, "credentialSubject.maxRuns", "must be an integer from 1 to 10000")
	}
	t.MaxRuns = int(n)
	price, present, ok := cs.object("price")
	if !present || !ok {
		return t, refuseField(ErrBadToken, "credentialSubject.price", "missing or not an object")
	}
	m, err := readMoney(price, ErrBadToken, "credentialSubject.price")
	if err != nil {
		return t, err
	}
	t.Price = m
	if t.Per, present, ok = price.str("per"); !present || !ok {
		return t, refuseField(ErrBadToken, "credentialSubject.price.per", "missing or not a string")
	}
	if t.Share, _, ok = price.str("share"); !ok {
		return t, refuseField(ErrBadToken, "credentialSubject.price.share", "not a string")
	}
	return t, checkTerms(ErrBadToken, t, credentialNames)
}

// checkModel hands the verified token to aries' VC data model — with the
// proof check off (verifyCompact did it), no schema or JSON-LD validation
// and so no fetch — and checks that aries reads it as trove did. aries
// panics on some inputs; a panic is a refusal.
func checkModel(token string, c *claims) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = refuseField(ErrBadToken, "vc", "the VC data model rejects the credential")
		}
	}()
	vc, perr := verifiable.ParseCredential([]byte(token),
		verifiable.WithDisabledProofCheck(),
		verifiable.WithCredDisableValidation(),
		verifiable.WithNoCustomSchemaCheck(),
	)
	if perr != nil {
		return &Error{Code: ErrBadToken, Field: "vc", Msg: "the VC data model rejects the credential", Err: fmt.Errorf("aries: %w", perr)}
	}
	if !slices.Contains(vc.Types, ConsentType) {
		return refuseField(ErrBadToken, "vc.type", "not a "+ConsentType)
	}
	if vc.Issuer.ID != c.iss {
		return refuseField(ErrIssuerMismatch, "vc.issuer", "differs from iss")
	}
	if vc.ID != c.jti {
		return refuseField(ErrBadToken, "vc.id", "differs from jti")
	}
	if id, serr := verifiable.SubjectID(vc.Subject); serr != nil || (id != "" && id != c.sub) {
		return refuseField(ErrBadToken, "credentialSubject.id", "differs from sub")
	}
	return nil
}
