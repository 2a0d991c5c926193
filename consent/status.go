package consent

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bitstring Status List (W3C, 2025): how a Consent credential is revoked.
const (
	// StatusListBits is the length of a status list trove issues: the
	// standard's minimum (16 KiB), so that one revocation hides among many
	// entries.
	StatusListBits = 131072
	// MaxStatusListBits is the longest status list accepted, decompressed.
	MaxStatusListBits = 8 * 1 << 20
	// StatusPurposeRevocation is the only status purpose trove uses.
	StatusPurposeRevocation = "revocation"
	// StatusEntryType is the type of a credential's credentialStatus.
	StatusEntryType = "BitstringStatusListEntry"
	// StatusListCredentialType is the credential type of a status list.
	StatusListCredentialType = "BitstringStatusListCredential"
	// StatusListType is the type of a status list's credentialSubject.
	StatusListType = "BitstringStatusList"
	// MaxStatusURLLen is the longest status list URL, in bytes.
	MaxStatusURLLen = 512
)

// StatusEntry is a credential's place in a status list.
type StatusEntry struct {
	ListCredential string // the URL of the status list credential
	Index          int    // the bit that, set, revokes the credential
}

// checkStatusURL accepts an absolute http(s) URL without fragment, query
// or user information, at most MaxStatusURLLen bytes.
func checkStatusURL(s string) bool {
	if len(s) == 0 || len(s) > MaxStatusURLLen {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" &&
		u.User == nil && u.RawQuery == "" && u.Fragment == "" && !strings.Contains(s, "#") && u.String() == s
}

func (e StatusEntry) check(code Code, field string) error {
	if !checkStatusURL(e.ListCredential) {
		return refuseField(code, field+".statusListCredential", "not an absolute http(s) URL without query or fragment")
	}
	if e.Index < 0 || e.Index >= MaxStatusListBits {
		return refuseField(code, field+".statusListIndex", "out of range")
	}
	return nil
}

type vcStatus struct {
	ID                   string `json:"id"`
	Type                 string `json:"type"`
	StatusPurpose        string `json:"statusPurpose"`
	StatusListIndex      string `json:"statusListIndex"`
	StatusListCredential string `json:"statusListCredential"`
}

func (e StatusEntry) claim() vcStatus {
	idx := strconv.Itoa(e.Index)
	return vcStatus{
		ID: e.ListCredential + "#" + idx, Type: StatusEntryType, StatusPurpose: StatusPurposeRevocation,
		StatusListIndex: idx, StatusListCredential: e.ListCredential,
	}
}

// readStatus reads vc.credentialStatus: one BitstringStatusListEntry for
// revocation.
func readStatus(vc fields) (StatusEntry, error) {
	var e StatusEntry
	const field = "vc.credentialStatus"
	st, present, ok := vc.object("credentialStatus")
	if !present || !ok {
		return e, refuseField(ErrBadToken, field, "missing or not a single object: a consent must be revocable")
	}
	if typ, _, _ := st.str("type"); typ != StatusEntryType {
		return e, refuseField(ErrBadToken, field+".type", "must be "+StatusEntryType)
	}
	if p, _, _ := st.str("statusPurpose"); p != StatusPurposeRevocation {
		return e, refuseField(ErrBadToken, field+".statusPurpose", "must be "+StatusPurposeRevocation)
	}
	idx, _, ok := st.str("statusListIndex")
	if !ok || idx == "" || len(idx) > 8 || strings.TrimLeft(idx, "0123456789") != "" || (len(idx) > 1 && idx[0] == '0') {
		return e, refuseField(ErrBadToken, field+".statusListIndex", "not a decimal integer in a string")
	}
	e.Index, _ = strconv.Atoi(idx)
	e.ListCredential, _, _ = st.str("statusListCredential")
	if err := e.check(ErrBadToken, field); err != nil {
		return e, err
	}
	if id, present, ok := st.str("id"); present && (!ok || id != e.ListCredential+"#"+idx) {
		return e, refuseField(ErrBadToken, field+".id", "must be the list's URL with the index as fragment")
	}
	return e, nil
}

// Bitstring is a status list's bits; bit 0 is the most significant bit of
// the first byte, as the standard orders them.
type Bitstring []byte

// NewBitstring returns a bitstring of n bits, all clear; n is rounded up
// to whole bytes.
func NewBitstring(n int) Bitstring { return make(Bitstring, (n+7)/8) }

// Len returns the number of bits.
func (b Bitstring) Len() int { return 8 * len(b) }

// Set sets bit i; it reports false when i is out of range.
func (b Bitstring) Set(i int) bool {
	if i < 0 || i >= b.Len() {
		return false
	}
	b[i/8] |= 0x80 >> (i % 8)
	return true
}

// Get returns bit i; out of range, it returns false.
func (b Bitstring) Get(i int) bool {
	return i >= 0 && i < b.Len() && b[i/8]&(0x80>>(i%8)) != 0
}

// Encode returns the standard's encodedList: the multibase base64url
// (prefix "u", no padding) of the GZIP-compressed bits.
func (b Bitstring) Encode() (string, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return "", fmt.Errorf("compress status list: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("compress status list: %w", err)
	}
	return "u" + b64.EncodeToString(buf.Bytes()), nil
}

// DecodeBitstring reads an encodedList. It refuses anything that is not
// multibase base64url of one GZIP stream, and stops decompressing past
// MaxStatusListBits: a small token must not inflate into a large one.
func DecodeBitstring(s string) (Bitstring, error) {
	if !strings.HasPrefix(s, "u") {
		return nil, errors.New("encodedList: not multibase base64url (prefix u)")
	}
	z, err := b64.DecodeString(s[1:])
	if err != nil {
		return nil, errors.New("encodedList: not unpadded base64url")
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, errors.New("encodedList: not GZIP")
	}
	zr.Multistream(false)
	bits, err := io.ReadAll(io.LimitReader(zr, MaxStatusListBits/8+1))
	if err != nil {
		return nil, errors.New("encodedList: corrupt GZIP stream")
	}
	if len(bits) == 0 || len(bits) > MaxStatusListBits/8 {
		return nil, fmt.Errorf("encodedList: must hold 1 to %d bits", MaxStatusListBits)
	}
	return Bitstring(bits), nil
}

// StatusList is a verified status list credential.
type StatusList struct {
	URL       string // the list's URL: the credential's sub and statusListCredential of its entries
	Issuer    string
	IssuedAt  time.Time
	Expires   time.Time
	Bits      Bitstring
	RawLength int // the token's length, for callers that bound what they cache
}

type statusSubject struct {
	ID            string `json:"id"`
	Type          string `json:"type"`
	StatusPurpose string `json:"statusPurpose"`
	EncodedList   string `json:"encodedList"`
}

type statusClaim struct {
	Context           []string      `json:"@context"`
	Type              []string      `json:"type"`
	CredentialSubject statusSubject `json:"credentialSubject"`
}

// IssueStatusList returns a status list credential (VC-JWT) signed by
// owner for the list at listURL, valid from now for ttl.
func IssueStatusList(owner Signer, listURL string, bits Bitstring, now time.Time, ttl time.Duration) (string, error) {
	if !checkStatusURL(listURL) {
		return "", refuseField(ErrInvalidRequest, "sub", "not an absolute http(s) URL without query or fragment")
	}
	if bits.Len() == 0 || bits.Len() > MaxStatusListBits {
		return "", refuseField(ErrInvalidRequest, "encodedList", "wrong length")
	}
	enc, err := bits.Encode()
	if err != nil {
		return "", err
	}
	iat := now.UTC().Truncate(time.Second)
	return sign(owner, TypeJWT, map[string]any{
		"iss": owner.DID(),
		"sub": listURL,
		"iat": numericDate(iat),
		"nbf": numericDate(iat),
		"exp": numericDate(iat.Add(ttl)),
		"vc": statusClaim{
			Context: []string{CredentialsContext},
			Type:    []string{"VerifiableCredential", StatusListCredentialType},
			CredentialSubject: statusSubject{
				ID: listURL + "#list", Type: StatusListType,
				StatusPurpose: StatusPurposeRevocation, EncodedList: enc,
			},
		},
	})
}

// VerifyStatusList verifies a status list credential on the strict path
// (signed by the DID in iss, exp required and not past) and decodes its
// bits.
func VerifyStatusList(token string, now time.Time) (*StatusList, error) {
	return verifyStatusList(context.Background(), didKeys{}, token, now)
}

func verifyStatusList(ctx context.Context, keys KeyResolver, token string, now time.Time) (*StatusList, error) {
	c, err := verifyCompactWith(ctx, keys, token, TypeJWT, now, Skew)
	if err != nil {
		return nil, err
	}
	if c.exp.IsZero() {
		return nil, refuseField(ErrBadToken, "exp", "a status list must expire")
	}
	if !checkStatusURL(c.sub) {
		return nil, refuseField(ErrBadToken, "sub", "not the list's URL")
	}
	vc, present, ok := c.all.object("vc")
	if !present || !ok {
		return nil, refuseField(ErrBadToken, "vc", "missing or not an object")
	}
	lctx, _, ok := vc.strings("@context", true)
	if !ok || len(lctx) == 0 || lctx[0] != CredentialsContext {
		return nil, refuseField(ErrBadToken, "vc.@context", "must start with "+CredentialsContext)
	}
	types, _, ok := vc.strings("type", true)
	if !ok || !slices.Contains(types, StatusListCredentialType) {
		return nil, refuseField(ErrBadToken, "vc.type", "must include "+StatusListCredentialType)
	}
	cs, present, ok := vc.object("credentialSubject")
	if !present || !ok {
		return nil, refuseField(ErrBadToken, "credentialSubject", "missing or not a single object")
	}
	if typ, _, _ := cs.str("type"); typ != StatusListType {
		return nil, refuseField(ErrBadToken, "credentialSubject.type", "must be "+StatusListType)
	}
	if p, _, _ := cs.str("statusPurpose"); p != StatusPurposeRevocation {
		return nil, refuseField(ErrBadToken, "credentialSubject.statusPurpose", "must be "+StatusPurposeRevocation)
	}
	enc, _, ok := cs.str("encodedList")
	if !ok {
		return nil, refuseField(ErrBadToken, "credentialSubject.encodedList", "not a string")
	}
	bits, err := DecodeBitstring(enc)
	if err != nil {
		return nil, &Error{Code: ErrBadToken, Field: "credentialSubject.encodedList", Msg: "not a valid bitstring", Err: err}
	}
	return &StatusList{URL: c.sub, Issuer: c.iss, IssuedAt: c.iat, Expires: c.exp, Bits: bits, RawLength: len(token)}, nil
}

// Check tells whether cred is revoked according to l: ErrRevoked when its
// bit is set. A list from another issuer or for another URL, or too short
// to hold the credential's index, is refused with ErrStatusUnknown: the
// caller cannot tell, and must not run.
func (l *StatusList) Check(cred *Credential) error {
	return l.CheckFor(cred, cred.Issuer)
}

// CheckFor is Check for a list that must be issued by issuer rather than
// by the credential's issuer: the caller has verified that issuer
// succeeded the credential's issuer (a key rotation of the vault).
func (l *StatusList) CheckFor(cred *Credential, issuer string) error {
	switch {
	case l.Issuer != issuer:
		return refuseField(ErrStatusUnknown, "iss", "the status list is not the credential issuer's")
	case l.URL != cred.Status.ListCredential:
		return refuseField(ErrStatusUnknown, "sub", "the status list is not the credential's")
	case cred.Status.Index >= l.Bits.Len():
		return refuseField(ErrStatusUnknown, "statusListIndex", "beyond the end of the status list")
	case l.Bits.Get(cred.Status.Index):
		return refuse(ErrRevoked, "the owner has revoked the consent")
	}
	return nil
}
