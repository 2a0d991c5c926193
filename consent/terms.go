package consent

import (
	"regexp"
	"slices"
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
	// MaxColumns is the most columns a consent may name.
	MaxColumns = 1024
	// MaxColumnNameLen is the longest column name, in bytes.
	MaxColumnNameLen = 256
	// MaxEpsilon is the largest differential-privacy ε a consent may grant.
	MaxEpsilon = 100.0
)

// Pricing units: what one Price.Amount pays for.
const (
	PerRun      = "run"       // one job
	PerRound    = "round"     // one round of federated training
	Per1000Rows = "1000-rows" // each started thousand rows a job reads
)

// Share rules: how a price per round is paid out (Terms.Share).
const (
	// ShareContribution: each round's pool (the price times the updates
	// the coordinator received) is shared in proportion to contribution,
	// as the coordinator's Contribution credential for the round states;
	// a flagged update earns nothing. The price is then the provisional
	// amount a round's claim names until the requester settles it. Only
	// with PerRound.
	ShareContribution = "contribution"
)

// Purpose codes: the fixed list a purpose's free text is filed under.
const (
	PurposeResearch           = "research"
	PurposeProductImprovement = "product-improvement"
	PurposeModelTraining      = "model-training"
	PurposeMarketing          = "marketing"
	PurposeOther              = "other"
)

// PurposeCodes lists the purpose codes, in a fixed order.
func PurposeCodes() []string {
	return []string{PurposeResearch, PurposeProductImprovement, PurposeModelTraining, PurposeMarketing, PurposeOther}
}

// Output policies: what happens to a job's result.
const (
	OutputRelease = "release" // the result goes out as it is
	OutputReview  = "review"  // the owner approves each result
	OutputDP      = "dp"      // differential privacy within an (ε, δ) budget
)

// OutputPolicy is what a consent says about a job's result. Epsilon and
// Delta are the whole budget of a dp consent and zero otherwise.
type OutputPolicy struct {
	Policy  string  `json:"policy"`
	Epsilon float64 `json:"epsilon,omitempty"`
	Delta   float64 `json:"delta,omitempty"`
}

// Money is an amount in integer minor units (cents, or a token's smallest
// unit) of a currency or token code. Never a float.
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// Terms are what a Consent credential allows: which algorithm may run on
// which columns of which dataset of which vault, for what purpose, how
// often, with what output policy, at what price per unit.
type Terms struct {
	Vault         string   // the vault's DID
	Dataset       string   // the dataset's name
	DatasetDigest string   // lowercase hex sha256 Merkle root of the dataset
	Algorithm     string   // lowercase hex sha256 of a wasm module, or a built-in id such as "builtin:stats@1"
	Columns       []string // the columns the algorithm may read; never empty in a credential
	Purpose       string   // free text shown to the owner
	PurposeCode   string   // one of PurposeCodes
	MaxRuns       int
	Output        OutputPolicy
	Price         Money  // per Per
	Per           string // PerRun, PerRound or Per1000Rows
	// Share is the share rule: "" (each unit pays Price) or
	// ShareContribution (with PerRound only).
	Share string
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
	if t.Per != PerRun && t.Per != PerRound && t.Per != Per1000Rows {
		return refuseField(code, names.per, "must be run, round or 1000-rows")
	}
	if err := checkShare(t.Share, t.Per); err != nil {
		return refuseField(code, names.share, err.Error())
	}
	if !slices.Contains(PurposeCodes(), t.PurposeCode) {
		return refuseField(code, names.purposeCode, "must be research, product-improvement, model-training, marketing or other")
	}
	if err := checkColumns(t.Columns, names.columnsRequired); err != nil {
		return refuseField(code, names.columns, err.Error())
	}
	if err := checkOutput(t.Output); err != nil {
		return refuseField(code, names.output, err.Error())
	}
	return nil
}

// checkShare checks a share rule: none, or ShareContribution priced per
// round.
func checkShare(share, per string) error {
	switch {
	case share == "":
		return nil
	case share != ShareContribution:
		return ruleError("must be contribution, or left out")
	case per != PerRound:
		return ruleError("the contribution rule shares a round's pool: the price must be per round")
	}
	return nil
}

func checkColumns(cols []string, required bool) error {
	if required && len(cols) == 0 {
		return ruleError("must name at least one column")
	}
	if len(cols) > MaxColumns {
		return ruleError("names more than 1024 columns")
	}
	seen := make(map[string]bool, len(cols))
	for _, c := range cols {
		switch {
		case c == "" || len(c) > MaxColumnNameLen:
			return ruleError("each column name must be 1 to 256 bytes")
		case !utf8.ValidString(c):
			return ruleError("a column name is not valid UTF-8")
		case seen[c]:
			return ruleError("names a column twice")
		}
		for _, r := range c {
			if unicode.IsControl(r) || unicode.In(r, unicode.Bidi_Control) {
				return ruleError("a column name contains a control character")
			}
		}
		seen[c] = true
	}
	return nil
}

func checkOutput(o OutputPolicy) error {
	switch o.Policy {
	case OutputRelease, OutputReview:
		if o.Epsilon != 0 || o.Delta != 0 {
			return ruleError("epsilon and delta belong to the dp policy only")
		}
		return nil
	case OutputDP:
		// The negated comparisons refuse NaN too.
		if !(o.Epsilon > 0 && o.Epsilon <= MaxEpsilon) {
			return ruleError("dp needs an epsilon above 0 and at most 100")
		}
		if !(o.Delta >= 0 && o.Delta < 1) {
			return ruleError("dp needs a delta from 0 up to (not including) 1")
		}
		return nil
	}
	return ruleError("the policy must be release, review or dp")
}

// ruleError is the rule a field breaks, in words.
type ruleError string

func (e ruleError) Error() string { return string(e) }

func checkPurpose(p string) error {
	switch {
	case p == "" || strings.TrimSpace(p) == "":
		return ruleError("must not be empty")
	case !utf8.ValidString(p):
		return ruleError("not valid UTF-8")
	case utf8.RuneCountInString(p) > MaxPurposeLen:
		return ruleError("longer than 500 characters")
	}
	for _, r := range p {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return ruleError("contains a control character")
		}
		if unicode.In(r, unicode.Bidi_Control) {
			return ruleError("contains a bidirectional control character")
		}
	}
	return nil
}

// termNames are the field names an error about Terms reports: they differ
// between a request and a credential.
type termNames struct {
	vault, dataset, digest, algorithm, purpose, maxRuns, amount, currency string
	per, share, purposeCode, columns, output                              string
	columnsRequired                                                       bool
}

var (
	requestNames = termNames{
		vault: "aud", dataset: "dataset", algorithm: "algorithm", purpose: "purpose",
		maxRuns: "maxRuns", amount: "price.amount", currency: "price.currency",
		per: "price.per", share: "price.share", purposeCode: "purposeCode", columns: "columns", output: "output",
	}
	credentialNames = termNames{
		vault: "credentialSubject.vault", dataset: "credentialSubject.dataset.name",
		digest: "credentialSubject.dataset.digest", algorithm: "credentialSubject.algorithm",
		purpose: "credentialSubject.purpose", maxRuns: "credentialSubject.maxRuns",
		amount: "credentialSubject.price.amount", currency: "credentialSubject.price.currency",
		per: "credentialSubject.price.per", share: "credentialSubject.price.share", purposeCode: "credentialSubject.purposeCode",
		columns: "credentialSubject.columns", output: "credentialSubject.output", columnsRequired: true,
	}
)

// ShareWords says a share rule in plain words, as an owner reads it
// before consenting.
func ShareWords(share string) string {
	if share == ShareContribution {
		return "Shared by contribution: each round's pay (the price per round times the updates the coordinator " +
			"received) is split between the vaults in proportion to how much each update helped, as the coordinator's " +
			"signed Contribution credential states; an update flagged as anomalous earns nothing for that round. " +
			"Until the requester settles it, a round's claim names the price per round."
	}
	return "Each unit is paid its full price."
}
