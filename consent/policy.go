package consent

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Limits on standing rules.
const (
	// MaxPolicySize is the largest rule file, in bytes.
	MaxPolicySize = 64 << 10
	// MaxRules is the most rules a policy may hold.
	MaxRules = 256
	// PolicyVersion is the only version of the rule format.
	PolicyVersion = 1
)

// Decisions a rule can make.
const (
	DecideApprove = "approve" // issue the credential for the terms asked
	DecideDeny    = "deny"    // refuse the request
	DecideAsk     = "ask"     // leave it to the owner (the default when no rule matches)
)

// Policy is an owner's standing rules: data, evaluated in order, the first
// rule whose conditions all hold deciding. When none matches, the owner
// is asked.
type Policy struct {
	Version int    `json:"version"`
	Rules   []Rule `json:"rules"`
}

// Rule is one standing rule. Every condition that is set must hold for
// the rule to match; a condition left out holds for every request.
type Rule struct {
	ID          string   `json:"id"`
	Decision    string   `json:"decision"`
	Requesters  []string `json:"requesters,omitempty"`    // DIDs
	Datasets    []string `json:"datasets,omitempty"`      // dataset names
	Algorithms  []string `json:"algorithms,omitempty"`    // module hashes or built-in ids
	Purposes    []string `json:"purpose_codes,omitempty"` // purpose codes
	Outputs     []string `json:"outputs,omitempty"`       // output policies
	Columns     []string `json:"columns,omitempty"`       // the request's columns must all be among these
	MaxRuns     int      `json:"max_runs,omitempty"`
	MaxEpsilon  float64  `json:"max_epsilon,omitempty"` // for dp: ε at most this
	MaxDelta    float64  `json:"max_delta,omitempty"`   // for dp: δ at most this
	MinPrice    *Money   `json:"min_price,omitempty"`   // at least this amount, in this currency
	Per         []string `json:"per,omitempty"`         // pricing units
	Shares      []string `json:"shares,omitempty"`      // share rules: ShareContribution, or ShareNone for none
	MaxValidity string   `json:"max_validity,omitempty"`
}

// ShareNone names, in a rule's shares, a request with no share rule: each
// unit pays its price.
const ShareNone = "none"

var ruleIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ParsePolicy reads standing rules from JSON or YAML (up to MaxPolicySize
// bytes), strictly: unknown fields, duplicate keys, a second document and
// rules that break the format are refused with an error naming the rule
// and field.
func ParsePolicy(data []byte) (*Policy, error) {
	if len(data) > MaxPolicySize {
		return nil, fmt.Errorf("policy: over %d bytes", MaxPolicySize)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		if err := checkJSON(trimmed, MaxDepth); err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
	} else {
		j, err := yamlToJSON(data)
		if err != nil {
			return nil, err
		}
		trimmed = j
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	var p Policy
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("policy: more than one document")
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	return &p, nil
}

// yamlToJSON turns one YAML document into JSON, so that YAML rules go
// through the same strict decoder as JSON ones.
func yamlToJSON(data []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, errors.New("policy: the YAML parser failed on this input")
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("policy: YAML: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("policy: more than one YAML document")
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, errors.New("policy: not a mapping with version and rules")
	}
	j, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("policy: YAML: %w", err)
	}
	if err := checkJSON(j, MaxDepth); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return j, nil
}

// Check validates a policy.
func (p *Policy) Check() error {
	if p.Version != PolicyVersion {
		return fmt.Errorf("policy: version must be %d", PolicyVersion)
	}
	if len(p.Rules) > MaxRules {
		return fmt.Errorf("policy: more than %d rules", MaxRules)
	}
	seen := map[string]bool{}
	for i, r := range p.Rules {
		if err := r.check(); err != nil {
			return fmt.Errorf("policy: rule %d: %w", i+1, err)
		}
		if seen[r.ID] {
			return fmt.Errorf("policy: rule %d: id %q used twice", i+1, r.ID)
		}
		seen[r.ID] = true
	}
	return nil
}

func (r *Rule) check() error {
	if !ruleIDRE.MatchString(r.ID) {
		return errors.New("id: 1 to 64 letters, digits, '_', '.' or '-'")
	}
	if r.Decision != DecideApprove && r.Decision != DecideDeny && r.Decision != DecideAsk {
		return errors.New("decision: must be approve, deny or ask")
	}
	for _, d := range r.Requesters {
		if !checkDID(d) {
			return errors.New("requesters: not a DID")
		}
	}
	for _, d := range r.Datasets {
		if !datasetNameRE.MatchString(d) {
			return errors.New("datasets: not a dataset name")
		}
	}
	for _, a := range r.Algorithms {
		if !sha256HexRE.MatchString(a) && !builtinRE.MatchString(a) {
			return errors.New("algorithms: neither a module sha256 nor a built-in id")
		}
	}
	for _, c := range r.Purposes {
		if !slices.Contains(PurposeCodes(), c) {
			return errors.New("purpose_codes: unknown purpose code")
		}
	}
	for _, o := range r.Outputs {
		if o != OutputRelease && o != OutputReview && o != OutputDP {
			return errors.New("outputs: must be release, review or dp")
		}
	}
	if err := checkColumns(r.Columns, false); err != nil {
		return fmt.Errorf("columns: %w", err)
	}
	if r.MaxRuns < 0 || r.MaxRuns > MaxRuns {
		return errors.New("max_runs: from 1 to 10000, or left out")
	}
	if !(r.MaxEpsilon >= 0 && r.MaxEpsilon <= MaxEpsilon) || !(r.MaxDelta >= 0 && r.MaxDelta < 1) {
		return errors.New("max_epsilon, max_delta: out of range")
	}
	if r.MinPrice != nil && (r.MinPrice.Amount < 0 || !currencyRE.MatchString(r.MinPrice.Currency)) {
		return errors.New("min_price: a non-negative amount and a currency code")
	}
	for _, u := range r.Per {
		if u != PerRun && u != PerRound && u != Per1000Rows {
			return errors.New("per: must be run, round or 1000-rows")
		}
	}
	for _, sh := range r.Shares {
		if sh != ShareContribution && sh != ShareNone {
			return errors.New("shares: must be contribution or none")
		}
	}
	if r.MaxValidity != "" {
		if d, err := time.ParseDuration(r.MaxValidity); err != nil || d <= 0 {
			return errors.New("max_validity: a positive duration such as 720h")
		}
	}
	return nil
}

// Hash returns the policy's identity: "sha256:" and the hex SHA-256 of its
// canonical JSON. The same rules always hash the same, however they were
// written.
func (p *Policy) Hash() string {
	q := *p
	if q.Rules == nil {
		q.Rules = []Rule{}
	}
	b, _ := json.Marshal(q) // a Policy always marshals
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Decision is what the standing rules decided about a request.
type Decision struct {
	Decision string // DecideApprove, DecideDeny or DecideAsk
	RuleID   string // the rule that matched; "" when none did
	RuleSet  string // the policy's Hash
}

// Decide applies the rules to a request whose columns, resolved by the
// vault (all of the dataset's when it named none), are cols. The first
// matching rule decides; when none matches, the owner is asked.
func (p *Policy) Decide(r *Request, cols []string) Decision {
	d := Decision{Decision: DecideAsk, RuleSet: p.Hash()}
	for i := range p.Rules {
		if p.Rules[i].matches(r, cols) {
			d.Decision, d.RuleID = p.Rules[i].Decision, p.Rules[i].ID
			return d
		}
	}
	return d
}

func (r *Rule) matches(q *Request, cols []string) bool {
	in := func(set []string, v string) bool { return len(set) == 0 || slices.Contains(set, v) }
	if !in(r.Requesters, q.Requester) || !in(r.Datasets, q.Dataset) || !in(r.Algorithms, q.Algorithm) ||
		!in(r.Purposes, q.PurposeCode) || !in(r.Outputs, q.Output.Policy) || !in(r.Per, q.Per) || !in(r.Shares, shareName(q.Share)) {
		return false
	}
	if len(r.Columns) > 0 {
		for _, c := range cols {
			if !slices.Contains(r.Columns, c) {
				return false
			}
		}
	}
	if r.MaxRuns > 0 && q.MaxRuns > r.MaxRuns {
		return false
	}
	if q.Output.Policy == OutputDP {
		if r.MaxEpsilon > 0 && q.Output.Epsilon > r.MaxEpsilon {
			return false
		}
		if r.MaxDelta > 0 && q.Output.Delta > r.MaxDelta {
			return false
		}
	}
	if r.MinPrice != nil && (q.Price.Currency != r.MinPrice.Currency || q.Price.Amount < r.MinPrice.Amount) {
		return false
	}
	if r.MaxValidity != "" {
		d, _ := time.ParseDuration(r.MaxValidity)
		if q.ExpiresAt.Sub(q.CreatedAt) > d {
			return false
		}
	}
	return true
}

// shareName is how a rule's shares name a request's share rule.
func shareName(share string) string {
	if share == "" {
		return ShareNone
	}
	return share
}

// Summary says the rules in plain language, one line each, ending with
// what happens to a request no rule matches.
func (p *Policy) Summary() []string {
	out := make([]string, 0, len(p.Rules)+1)
	for _, r := range p.Rules {
		out = append(out, r.summary())
	}
	return append(out, "Any other request: the owner decides.")
}

func (r *Rule) summary() string {
	var b strings.Builder
	switch r.Decision {
	case DecideApprove:
		b.WriteString("Approved at once")
	case DecideDeny:
		b.WriteString("Denied at once")
	default:
		b.WriteString("Left to the owner")
	}
	fmt.Fprintf(&b, " (rule %s): ", r.ID)
	list := func(what string, vs []string, any string) string {
		if len(vs) == 0 {
			return any
		}
		return what + " " + strings.Join(vs, " or ")
	}
	parts := []string{
		list("requests to run", r.Algorithms, "requests to run any algorithm"),
		list("on dataset", r.Datasets, "on any dataset"),
		list("for purpose", r.Purposes, "for any purpose"),
		list("from", r.Requesters, "from any requester"),
	}
	if len(r.Columns) > 0 {
		parts = append(parts, "reading only columns "+strings.Join(r.Columns, ", "))
	}
	if len(r.Outputs) > 0 {
		parts = append(parts, "with output "+strings.Join(r.Outputs, " or "))
	}
	if r.MaxEpsilon > 0 || r.MaxDelta > 0 {
		parts = append(parts, fmt.Sprintf("with dp budgets of at most ε=%g, δ=%g (0 = any)", r.MaxEpsilon, r.MaxDelta))
	}
	if r.MaxRuns > 0 {
		parts = append(parts, fmt.Sprintf("for at most %d runs", r.MaxRuns))
	}
	if r.MinPrice != nil {
		parts = append(parts, fmt.Sprintf("paying at least %d %s (minor units)", r.MinPrice.Amount, r.MinPrice.Currency))
	}
	if len(r.Per) > 0 {
		parts = append(parts, "per "+strings.Join(r.Per, " or "))
	}
	if len(r.Shares) > 0 {
		var ways []string
		for _, sh := range r.Shares {
			if sh == ShareContribution {
				ways = append(ways, "with each round's pay shared by contribution")
			} else {
				ways = append(ways, "with each unit paid its full price")
			}
		}
		parts = append(parts, strings.Join(ways, " or "))
	}
	if r.MaxValidity != "" {
		parts = append(parts, "lasting at most "+r.MaxValidity)
	}
	b.WriteString(strings.Join(parts, ", "))
	b.WriteString(".")
	return b.String()
}
