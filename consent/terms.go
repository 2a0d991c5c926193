package consent

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trove-project/trove/did"
)

// Limits on what a consent may say.
const (
	// MaxPurposeLen is the longest purpose, in characters.
	MaxPurposeLen = 500
	// MaxRuns is the most runs one consent may allow.
	MaxRuns = 10000
	// PerRun is the only pricing unit of the skeleton: Money per run.
	PerRun = "run"
)

// Money is an amount in integer minor units (cents, or a token's smallest
// unit) of a currency or token code. Never a float.
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// Terms are what a Consent credential allows: which algorithm may run on
// which dataset of which vault, for what purpose, how often, at what price
// per run.
type Terms struct {
	Vault         string // the vault's DID
	Dataset       string // the dataset's name
	DatasetDigest string // lowercase hex sha256 Merkle root of the dataset
	Algorithm     string // lowercase hex sha256 of a wasm module, or a built-in id such as "builtin:stats@1"
	Purpose       string // free text shown to the owner
	MaxRuns       int
	Price         Money // per run
}

var (
	datasetNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	sha256HexRE   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	builtinRE     = regexp.MustCompile(`^builtin:[a-z0-9][a-z0-9_.-]{0,63}@[0-9]{1,6}$`)
	currencyRE    = regexp.MustCompile(`^[A-Z0-9]{3,12}$`)
	requestIDRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
)

// checkDID reports whether s is a DID whose key trove can resolve.
func checkDID(s string) bool {
	_, err := did.PublicKey(s)
	return err == nil && !strings.Contains(s, "#")
}

// checkTerms validates terms; the error names the JSON field at fault
// (under prefix) with code.
func checkTerms(code Code, t Terms, names termNames) error {
	switch {
	case !checkDID(t.Vault):
		return refuseField(code, names.vault, "not a DID")
	case !datasetNameRE.MatchString(t.Dataset):
		return refuseField(code, names.dataset, "1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit")
	case names.digest != "" && !sha256HexRE.MatchString(t.DatasetDigest):
		return refuseField(code, names.digest, "not a lowercase hex sha256")
	case !sha256HexRE.MatchString(t.Algorithm) && !builtinRE.MatchString(t.Algorithm):
		return refuseField(code, names.algorithm, "neither a lowercase hex sha256 nor a built-in id like builtin:stats@1")
	}
	if err := checkPurpose(t.Purpose); err != nil {
		return refuseField(code, names.purpose, err.Error())
	}
	if t.MaxRuns < 1 || t.MaxRuns > MaxRuns {
		return refuseField(code, names.maxRuns, "must be from 1 to 10000")
	}
	if t.Price.Amount < 0 {
		return refuseField(code, names.amount, "must not be negative")
	}
	if !currencyRE.MatchString(t.Price.Currency) {
		return refuseField(code, names.currency, "3 to 12 uppercase letters or digits")
	}
	return nil
}

type purposeError string

func (e purposeError) Error() string { return string(e) }

func checkPurpose(p string) error {
	switch {
	case p == "" || strings.TrimSpace(p) == "":
		return purposeError("must not be empty")
	case !utf8.ValidString(p):
		return purposeError("not valid UTF-8")
	case utf8.RuneCountInString(p) > MaxPurposeLen:
		return purposeError("longer than 500 characters")
	}
	for _, r := range p {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return purposeError("contains a control character")
		}
		if unicode.In(r, unicode.Bidi_Control) {
			return purposeError("contains a bidirectional control character")
		}
	}
	return nil
}

// termNames are the field names an error about Terms reports: they differ
// between a request and a credential.
type termNames struct {
	vault, dataset, digest, algorithm, purpose, maxRuns, amount, currency string
}

var (
	requestNames = termNames{
		vault: "aud", dataset: "dataset", algorithm: "algorithm", purpose: "purpose",
		maxRuns: "maxRuns", amount: "price.amount", currency: "price.currency",
	}
	credentialNames = termNames{
		vault: "credentialSubject.vault", dataset: "credentialSubject.dataset.name",
		digest: "credentialSubject.dataset.digest", algorithm: "credentialSubject.algorithm",
		purpose: "credentialSubject.purpose", maxRuns: "credentialSubject.maxRuns",
		amount: "credentialSubject.price.amount", currency: "credentialSubject.price.currency",
	}
)
