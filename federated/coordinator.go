package federated

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/dataset"
	"github.com/trove-project/trove/internal/safefile"
	"github.com/trove-project/trove/ledger"
)

// Participant is one vault as the coordinator reaches it: something that
// runs builtin:logreg-train@1 with the given params under its consent and
// answers with the result and the vault's receipt for it.
type Participant interface {
	// DID is the vault's DID: its receipts must be signed by it.
	DID() string
	// Run runs one training step (or, with "moments", the feature
	// moments) and returns the vault's answer.
	Run(ctx context.Context, params json.RawMessage) (*Reply, error)
}

// Reply is a vault's answer to one job.
type Reply struct {
	JobID   string          // the vault's job id
	Result  json.RawMessage // the job's result, as the vault released it
	Receipt json.RawMessage // the vault's receipt bundle for the job
	Claim   *ledger.Claim   // the vault's signed claim for the job, if it sent one
}

// Limits on what the coordinator accepts from a vault.
const (
	MaxResultBytes   = 8 << 20 // a training result
	MaxParticipants  = 10000
	MaxRounds        = 10000
	roundFileVersion = 1
)

// Config is what a training run needs. Zero values take the documented
// defaults.
type Config struct {
	Target   string   // the label column (required)
	Classes  int      // for an integer label: the number of classes; 0 for a categorical one
	Features []string // numeric feature columns; default: what the vaults report
	Rounds   int      // rounds to run (required)

	Epochs       int     // local epochs per round; default 1
	LearningRate float64 // local SGD step; default 0.1
	BatchSize    int     // local mini-batch; default 32
	L2           float64 // L2 penalty
	Clip         float64 // update norm clip under the dp policy; default 1
	ServerRate   float64 // the aggregate update is scaled by this; default 1

	// Standardise asks each vault once, before round 1, for the sums and
	// sums of squares of its features (one run of its consent), and trains
	// on features standardised by the pooled mean and deviation.
	Standardise bool
	// Center and Scale, if set, standardise the features instead (one
	// entry per feature of Features).
	Center, Scale []float64

	Aggregator Aggregator    // default FedAvg
	Detector   *Detector     // flags anomalous updates; nil: none flagged
	Quorum     int           // fewest updates a round needs; default a majority of participants
	Timeout    time.Duration // per participant per round; default 2 minutes
	Parallel   int           // participants asked at once; default 16

	// Price is what the consents pay per round per vault (their price per
	// round). Each round's pool is Price times the updates received,
	// shared by contribution; default 0 EUR, which pays nothing out.
	Price consent.Money

	// MaxEpsilon, if > 0, takes only differentially private updates: a
	// result not released under the dp policy, or from a vault whose
	// receipt says its budget spent is over MaxEpsilon, is skipped.
	MaxEpsilon float64

	// Test, if set, is the coordinator's held-out labelled table each
	// round's model is scored on.
	Test *dataset.Table

	// RoundFile, if set, is where the state is written (atomically) after
	// each round and read from at the start, so a restarted coordinator
	// resumes after its last complete round.
	RoundFile string

	// KeepReceipt, if set, is called with every receipt that verified
	// (round 0: the feature moments).
	KeepReceipt func(round, participant int, receipt json.RawMessage) error

	// Contribution, if set, issues each participant whose receipt
	// verified a Contribution credential (VC-JWT) for its share of the
	// round (nothing when its update was flagged or unusable). Claims
	// under the share rule are then settled with it (see Settler).
	Contribution func(c consent.Contribution) (string, error)
	// Training names the run in Contribution credentials; default
	// "training".
	Training string

	// Progress, if set, is called after each round.
	Progress func(RoundReport)

	Now func() time.Time // the clock; default time.Now
}

func (c Config) withDefaults(n int) Config {
	if c.Epochs == 0 {
		c.Epochs = 1
	}
	if c.LearningRate == 0 {
		c.LearningRate = 0.1
	}
	if c.BatchSize == 0 {
		c.BatchSize = 32
	}
	if c.Clip == 0 {
		c.Clip = 1
	}
	if c.ServerRate == 0 {
		c.ServerRate = 1
	}
	if c.Aggregator == nil {
		c.Aggregator = FedAvg{}
	}
	if c.Quorum == 0 {
		c.Quorum = n/2 + 1
	}
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Minute
	}
	if c.Parallel == 0 {
		c.Parallel = 16
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Training == "" {
		c.Training = "training"
	}
	if c.Price.Currency == "" {
		c.Price.Currency = "EUR"
	}
	return c
}

// Status is what became of one participant in one round.
type Status string

// The statuses.
const (
	StatusUsed    Status = "used"    // its update went into the aggregate
	StatusFlagged Status = "flagged" // its update was flagged and left out
	StatusSkipped Status = "skipped" // it timed out, refused or failed
)

// ParticipantRound is one participant's part in one round.
type ParticipantRound struct {
	Index     int     `json:"index"`
	Vault     string  `json:"vault"`
	Status    Status  `json:"status"`
	Reason    string  `json:"reason,omitempty"` // why skipped or flagged
	JobID     string  `json:"job_id,omitempty"`
	ReceiptID string  `json:"receipt_id,omitempty"` // the receipt proving which vault sent the update
	LogIndex  uint64  `json:"log_index,omitempty"`  // the run's entry in the vault's log
	IssuedAt  string  `json:"issued_at,omitempty"`  // when the vault issued the receipt
	Samples   int     `json:"samples,omitempty"`
	Loss      float64 `json:"loss,omitempty"` // local training loss the vault reported
	// Feature is, in round 0, the first feature whose moments were out of
	// line (flagged).
	Feature string `json:"feature,omitempty"`
	// Weight is, in round 0, the rows the vault counted for in the pooled
	// moments (used).
	Weight   float64 `json:"weight,omitempty"`
	Score    *Score  `json:"score,omitempty"`
	Share    float64 `json:"share"`                   // its exact share of the round's pool (a multiple of 1/ShareUnits)
	Payout   int64   `json:"payout"`                  // what it is paid of the pool, in minor units of Config.Price's currency
	Epsilon  float64 `json:"epsilon,omitempty"`       // ε this job spent (dp)
	SpentEps float64 `json:"spent_epsilon,omitempty"` // the vault's dataset budget spent so far, as ε
	// Contribution is the Contribution credential (VC-JWT) issued to the
	// vault for this round.
	Contribution string `json:"contribution,omitempty"`
	// ClaimID is the vault's claim for the round's job when it is under
	// the share rule: the coordinator settles it with Contribution.
	ClaimID string `json:"claim_id,omitempty"`
	// Settled is true once the vault settled the claim at Payout.
	Settled bool `json:"settled,omitempty"`
	// SettleError is why the last attempt to settle failed; a resumed
	// coordinator tries again.
	SettleError string `json:"settle_error,omitempty"`
}

// RoundReport is one round's record.
type RoundReport struct {
	Round        int                `json:"round"`
	Participants []ParticipantRound `json:"participants"`
	Updates      int                `json:"updates"`    // updates received
	Aggregated   int                `json:"aggregated"` // updates in the aggregate
	Quorum       bool               `json:"quorum"`     // false: the model did not change
	Accuracy     *float64           `json:"accuracy,omitempty"`
	TestLoss     *float64           `json:"test_loss,omitempty"`
	Seconds      float64            `json:"seconds"`
}

// State is the round file: the model so far and every round's record.
type State struct {
	Version    int                 `json:"version"`
	Aggregator string              `json:"aggregator"`
	Vaults     []string            `json:"vaults"`
	Model      compute.LogRegModel `json:"model"`
	// Moments is round 0: each vault's part in the pooled feature
	// moments asked before round 1 (with Standardise), with the receipt
	// that proves what it sent; a vault whose moments were used is paid
	// the price (momentsPay), and its claim settled like a round's.
	Moments []ParticipantRound `json:"moments,omitempty"`
	Rounds  []RoundReport      `json:"rounds"`
}

// Coordinator runs federated training over participants.
type Coordinator struct {
	cfg   Config
	parts []Participant
}

// NewCoordinator checks cfg and returns a coordinator over parts.
func NewCoordinator(cfg Config, parts []Participant) (*Coordinator, error) {
	switch {
	case len(parts) == 0 || len(parts) > MaxParticipants:
		return nil, trove.Errorf(trove.EINVALID, "federated training needs 1..%d participants, not %d", MaxParticipants, len(parts))
	case cfg.Target == "":
		return nil, trove.Errorf(trove.EINVALID, "federated training needs a target column")
	case cfg.Rounds < 1 || cfg.Rounds > MaxRounds:
		return nil, trove.Errorf(trove.EINVALID, "rounds %d is not in 1..%d", cfg.Rounds, MaxRounds)
	case cfg.Quorum < 0 || cfg.Quorum > len(parts):
		return nil, trove.Errorf(trove.EINVALID, "quorum %d is not in 1..%d", cfg.Quorum, len(parts))
	case cfg.Timeout < 0 || cfg.Parallel < 0:
		return nil, trove.Errorf(trove.EINVALID, "timeout and parallelism must not be negative")
	case cfg.Price.Amount < 0 || cfg.Price.Amount > consent.MaxPool/MaxParticipants:
		return nil, trove.Errorf(trove.EINVALID, "the price per round must be from 0 to %d minor units", consent.MaxPool/MaxParticipants)
	}
	return &Coordinator{cfg: cfg.withDefaults(len(parts)), parts: parts}, nil
}

// Run runs the rounds not yet in the round file and returns the final
// state. A round without a quorum leaves the model as it was.
func (c *Coordinator) Run(ctx context.Context) (*State, error) {
	st, err := c.load()
	if err != nil {
		return nil, err
	}
	// Settlements a previous run could not make are tried again first.
	if c.settle(ctx, st, -1) {
		if err := c.save(st); err != nil {
			return nil, err
		}
	}
	if c.cfg.Standardise && st.Model.Scale == nil {
		if err := c.standardise(ctx, st); err != nil {
			return nil, err
		}
		if err := c.save(st); err != nil {
			return nil, err
		}
		if c.settle(ctx, st, 0) {
			if err := c.save(st); err != nil {
				return nil, err
			}
		}
	}
	for r := len(st.Rounds) + 1; r <= c.cfg.Rounds; r++ {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		rep, err := c.round(ctx, st, r)
		if err != nil {
			return st, fmt.Errorf("round %d: %w", r, err)
		}
		// The round is recorded before its claims are settled, so that a
		// crash in between leaves settlements for a restart to retry.
		st.Rounds = append(st.Rounds, *rep)
		if err := c.save(st); err != nil {
			return st, err
		}
		if c.settle(ctx, st, r) {
			if err := c.save(st); err != nil {
				return st, err
			}
		}
		if c.cfg.Progress != nil {
			c.cfg.Progress(st.Rounds[len(st.Rounds)-1])
		}
	}
	return st, nil
}

func (c *Coordinator) vaults() []string {
	out := make([]string, len(c.parts))
	for i, p := range c.parts {
		out[i] = p.DID()
	}
	return out
}

// load reads the round file, or starts afresh.
func (c *Coordinator) load() (*State, error) {
	fresh := &State{Version: roundFileVersion, Aggregator: c.cfg.Aggregator.String(), Vaults: c.vaults(),
		Model: compute.LogRegModel{Target: c.cfg.Target, Classes: c.cfg.Classes, Features: c.cfg.Features, Center: c.cfg.Center, Scale: c.cfg.Scale}}
	if c.cfg.RoundFile == "" {
		return fresh, nil
	}
	b, err := os.ReadFile(c.cfg.RoundFile)
	if errors.Is(err, os.ErrNotExist) {
		return fresh, nil
	} else if err != nil {
		return nil, fmt.Errorf("read round file: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, trove.Errorf(trove.EINVALID, "round file %s does not parse: %v", c.cfg.RoundFile, err)
	}
	switch {
	case st.Version != roundFileVersion:
		return nil, trove.Errorf(trove.EINVALID, "round file %s has version %d, want %d", c.cfg.RoundFile, st.Version, roundFileVersion)
	case st.Aggregator != fresh.Aggregator || st.Model.Target != fresh.Model.Target || st.Model.Classes != fresh.Model.Classes:
		return nil, trove.Errorf(trove.ECONFLICT, "round file %s is of another training (aggregator %s, target %q)", c.cfg.RoundFile, st.Aggregator, st.Model.Target)
	case len(st.Vaults) != len(fresh.Vaults):
		return nil, trove.Errorf(trove.ECONFLICT, "round file %s is of %d vaults, not %d", c.cfg.RoundFile, len(st.Vaults), len(fresh.Vaults))
	case len(st.Rounds) > c.cfg.Rounds:
		return nil, trove.Errorf(trove.ECONFLICT, "round file %s already holds %d rounds, more than the %d asked", c.cfg.RoundFile, len(st.Rounds), c.cfg.Rounds)
	}
	for i, v := range st.Vaults {
		if v != fresh.Vaults[i] {
			return nil, trove.Errorf(trove.ECONFLICT, "round file %s names other vaults", c.cfg.RoundFile)
		}
	}
	return &st, nil
}

func (c *Coordinator) save(st *State) error {
	if c.cfg.RoundFile == "" {
		return nil
	}
	b, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return err
	}
	if err := safefile.Write(c.cfg.RoundFile, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write round file: %w", err)
	}
	return nil
}

// answer is one participant's verified reply.
type answer struct {
	reply  *Reply
	claims *ledger.ReceiptClaims
	err    error
}

// ask sends params to every participant at once (at most Parallel at a
// time), each under its own deadline, and verifies every receipt.
func (c *Coordinator) ask(ctx context.Context, params json.RawMessage) []answer {
	out := make([]answer, len(c.parts))
	sem := make(chan struct{}, c.cfg.Parallel)
	var wg sync.WaitGroup
	for i, p := range c.parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			pctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
			defer cancel()
			reply, err := p.Run(pctx, params)
			if err != nil {
				if pctx.Err() != nil && ctx.Err() == nil {
					err = &trove.Error{Code: trove.EUNAVAILABLE, Reason: "timeout", Message: "the vault did not answer in time", Err: err}
				}
				out[i] = answer{err: err}
				return
			}
			claims, err := checkReply(p.DID(), params, reply)
			out[i] = answer{reply: reply, claims: claims, err: err}
		}()
	}
	wg.Wait()
	return out
}

// checkReply verifies a reply's receipt: signed by the vault, for this
// job, run with exactly the params the coordinator sent, over this result.
func checkReply(vaultDID string, params json.RawMessage, r *Reply) (*ledger.ReceiptClaims, error) {
	if len(r.Result) > MaxResultBytes {
		return nil, &trove.Error{Code: trove.ETOOLARGE, Reason: "result_too_large", Message: fmt.Sprintf("the result is over %d bytes", MaxResultBytes)}
	}
	rc, _, err := ledger.VerifyReceipt(r.Receipt, vaultDID)
	if err != nil {
		return nil, &trove.Error{Code: trove.EFORBIDDEN, Reason: "bad_receipt", Message: "the vault's receipt does not verify", Err: err}
	}
	sum := sha256.Sum256(r.Result)
	if rc.JobID != r.JobID {
		return rc, trove.Errorf(trove.EFORBIDDEN, "the receipt is for job %s, not %s", rc.JobID, r.JobID)
	}
	if rc.OutputSHA256 != hex.EncodeToString(sum[:]) {
		return rc, &trove.Error{Code: trove.EFORBIDDEN, Reason: "receipt_mismatch", Message: "the result is not the output the vault's receipt names"}
	}
	// The receipt hashes the params as the vault received them: compact
	// and HTML-escaped, as the client encodes them.
	sent, err := json.Marshal(params)
	if err != nil {
		return rc, err
	}
	if psum := sha256.Sum256(sent); rc.ParamsSHA256 != hex.EncodeToString(psum[:]) {
		return rc, &trove.Error{Code: trove.EFORBIDDEN, Reason: "params_mismatch", Message: "the vault ran other params than the coordinator sent"}
	}
	return rc, nil
}

// params builds a job's params from the model.
func (c *Coordinator) params(m compute.LogRegModel, moments bool) (json.RawMessage, error) {
	p := map[string]any{"target": m.Target, "epochs": c.cfg.Epochs, "learning_rate": c.cfg.LearningRate,
		"batch_size": c.cfg.BatchSize, "l2": c.cfg.L2, "clip": c.cfg.Clip}
	if m.Classes != 0 {
		p["classes"] = m.Classes
	}
	if len(m.Features) > 0 {
		p["features"] = m.Features
	}
	if moments {
		p["moments"] = true
	} else {
		if m.Weights != nil {
			p["weights"] = m.Weights
		}
		if m.Scale != nil {
			p["center"], p["scale"] = m.Center, m.Scale
		}
	}
	return json.Marshal(p)
}

// standardise asks every vault for its feature moments and sets the
// model's center and scale from the pooled ones (poolMoments: a vault
// whose moments are out of line is left out, none counts for more than
// MomentsWeightCap times the median row count). st.Moments records each
// vault's part with its receipt, and its pay as round 0 (momentsPay).
func (c *Coordinator) standardise(ctx context.Context, st *State) error {
	params, err := c.params(st.Model, true)
	if err != nil {
		return err
	}
	answers := c.ask(ctx, params)
	if err := ctx.Err(); err != nil {
		return err
	}
	var features []string
	var ms []vaultMoments
	var from []int // the vault of each of ms
	st.Moments = make([]ParticipantRound, len(answers))
	why := map[string]int{}
	for i, a := range answers {
		mv := &st.Moments[i]
		if err := c.note(0, i, a, mv); err != nil {
			return err
		}
		if a.err != nil {
			why[mv.Reason]++
			continue
		}
		m, fs, reason := parseMomentsResult(a.reply.Result, features)
		if reason != "" {
			mv.Status, mv.Reason = StatusSkipped, reason
			why[reason]++
			continue
		}
		features = fs
		mv.Samples = m.Samples
		ms, from = append(ms, m), append(from, i)
	}
	if len(ms) == 0 {
		var reasons []string
		for _, r := range slices.Sorted(maps.Keys(why)) {
			reasons = append(reasons, fmt.Sprintf("%s: %d", r, why[r]))
		}
		return trove.Errorf(trove.EUNAVAILABLE, "no vault returned its feature moments; cannot standardise (%s)", strings.Join(reasons, ", "))
	}
	center, scale, verdicts, err := poolMoments(ms)
	if err != nil {
		return err
	}
	for k, v := range verdicts {
		mv := &st.Moments[from[k]]
		switch {
		case v.Flagged:
			mv.Status, mv.Feature, mv.Reason = StatusFlagged, features[v.Feature], v.Why
		default:
			mv.Status, mv.Weight = StatusUsed, v.Weight
			if v.Capped {
				mv.Reason = fmt.Sprintf("count capped at %g (%d times the median)", v.Weight, MomentsWeightCap)
			}
		}
	}
	for j, f := range features {
		if !(math.Abs(center[j]) <= 1e12 && scale[j] <= 1e12) {
			return trove.Errorf(trove.EUNAVAILABLE, "the pooled moments of feature %q are out of range; cannot standardise", f)
		}
	}
	st.Model.Features, st.Model.Center, st.Model.Scale = features, center, scale
	// Paid by what the pool made of each answer: a vault left out as out
	// of line earns nothing, like a flagged update.
	return c.momentsPay(answers, st.Moments)
}

// allFinite reports whether every x is finite and below 1e300 in
// magnitude, so that sums of a few of them stay finite.
func allFinite(xs []float64) bool {
	for _, x := range xs {
		if !(math.Abs(x) < 1e300) {
			return false
		}
	}
	return true
}

// trainResult is what the coordinator reads of a training step's result.
type trainResult struct {
	Features []string
	Update   []float64
	Samples  int
	Loss     float64
}

// Limits on a training result.
const (
	maxUpdateLen = 100 * (compute.MaxFeatures + 1)
	maxSamples   = 1 << 40
)

// parseTrainResult reads a vault's training result: an update of want
// weights (any number when want is 0), all finite, over the given features
// (any when none are given), and a sample count (noisy under dp: rounded
// and floored at 0).
func parseTrainResult(b []byte, want int, features []string) (trainResult, error) {
	var raw struct {
		Features []string   `json:"features"`
		Update   []*float64 `json:"update"`
		Samples  *float64   `json:"samples"`
		Loss     *float64   `json:"loss"`
	}
	var res trainResult
	if len(b) > MaxResultBytes {
		return res, fmt.Errorf("the result is over %d bytes", MaxResultBytes)
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return res, errors.New("the result does not parse")
	}
	switch {
	case len(raw.Update) == 0 || len(raw.Update) > maxUpdateLen:
		return res, fmt.Errorf("the update has %d weights, want 1..%d", len(raw.Update), maxUpdateLen)
	case want != 0 && len(raw.Update) != want:
		return res, fmt.Errorf("the update has %d weights, want %d", len(raw.Update), want)
	case raw.Samples == nil || !(*raw.Samples > -maxSamples && *raw.Samples < maxSamples):
		return res, errors.New("the sample count is missing or out of range")
	case len(features) > 0 && !equalStrings(raw.Features, features):
		return res, errors.New("the update is over other features")
	}
	res.Update = make([]float64, len(raw.Update))
	for j, x := range raw.Update {
		if x == nil || math.IsNaN(*x) || math.IsInf(*x, 0) {
			return trainResult{}, errors.New("the update holds a weight that is not a finite number")
		}
		res.Update[j] = *x
	}
	res.Features = raw.Features
	res.Samples = int(math.Max(0, math.Round(*raw.Samples)))
	if raw.Loss != nil {
		res.Loss = *raw.Loss
	}
	return res, nil
}

// round runs round r.
func (c *Coordinator) round(ctx context.Context, st *State, r int) (*RoundReport, error) {
	start := c.cfg.Now()
	params, err := c.params(st.Model, false)
	if err != nil {
		return nil, err
	}
	answers := c.ask(ctx, params)
	if err := ctx.Err(); err != nil {
		// Interrupted: the round is not recorded, so a restart runs it.
		return nil, err
	}
	rep := &RoundReport{Round: r, Participants: make([]ParticipantRound, len(c.parts))}
	var updates []Update
	var from []int // participant of each update
	want := len(st.Model.Weights)
	for i, a := range answers {
		pr := &rep.Participants[i]
		if err := c.note(r, i, a, pr); err != nil {
			return nil, err
		}
		if a.err != nil {
			continue
		}
		if c.cfg.MaxEpsilon > 0 {
			if a.claims.Policy != compute.PolicyDP || a.claims.DP == nil {
				pr.Status, pr.Reason = StatusSkipped, "not_private"
				continue
			}
			if a.claims.DP.SpentEpsilon > c.cfg.MaxEpsilon*(1+1e-9) {
				pr.Status, pr.Reason = StatusSkipped, "over_epsilon"
				continue
			}
		}
		res, err := parseTrainResult(a.reply.Result, want, st.Model.Features)
		if err != nil {
			pr.Status, pr.Reason = StatusSkipped, err.Error()
			continue
		}
		if want == 0 {
			want = len(res.Update)
		}
		pr.Samples = res.Samples
		pr.Loss = res.Loss
		if len(st.Model.Features) == 0 {
			st.Model.Features = res.Features
		}
		updates = append(updates, Update{Vault: pr.Vault, Delta: res.Update, Samples: pr.Samples})
		from = append(from, i)
	}
	rep.Updates = len(updates)
	rep.Quorum = len(updates) >= c.cfg.Quorum && len(updates) > 0
	flagged := make([]bool, len(updates))
	var delta []float64 // the aggregate, with a quorum
	if rep.Quorum {
		if c.cfg.Detector != nil {
			scores, err := c.cfg.Detector.Score(updates)
			if err != nil {
				return nil, err
			}
			for k, s := range scores {
				pr := &rep.Participants[from[k]]
				pr.Score = &s
				if s.Flagged {
					flagged[k] = true
					pr.Status, pr.Reason = StatusFlagged, s.Why
				}
			}
		}
		var kept []Update
		var keptFrom []int
		for k, u := range updates {
			if !flagged[k] {
				kept, keptFrom = append(kept, u), append(keptFrom, k)
			}
		}
		var used []int
		delta, used, err = c.cfg.Aggregator.Aggregate(kept)
		if err != nil {
			return nil, err
		}
		rep.Aggregated = len(used)
		inAggregate := make([]bool, len(updates))
		for _, u := range used {
			inAggregate[keptFrom[u]] = true
		}
		if st.Model.Weights == nil {
			st.Model.Weights = make([]float64, len(delta))
		}
		for j, d := range delta {
			st.Model.Weights[j] += c.cfg.ServerRate * d
		}
		for k, i := range from {
			pr := &rep.Participants[i]
			if !flagged[k] {
				pr.Status = StatusUsed
				if !inAggregate[k] {
					pr.Reason = "not chosen by " + c.cfg.Aggregator.String()
				}
			}
		}
	} else {
		for _, i := range from {
			rep.Participants[i].Status, rep.Participants[i].Reason = StatusSkipped, "no quorum"
		}
	}
	if err := c.roundPay(r, rep, answers, updates, from, flagged, delta); err != nil {
		return nil, err
	}
	if c.cfg.Test != nil && st.Model.Weights != nil {
		ev, err := compute.LogRegAccuracy(st.Model, c.cfg.Test)
		if err != nil {
			return nil, fmt.Errorf("score the model on the test set: %w", err)
		}
		rep.Accuracy, rep.TestLoss = &ev.Accuracy, &ev.Loss
	}
	rep.Seconds = c.cfg.Now().Sub(start).Seconds()
	return rep, nil
}

// note records in pr participant i's answer a in round r (0: the
// feature moments): what its receipt proves (job, receipt id, log index,
// issue time, ε), and for an answer that failed, skipped with its reason,
// or flagged when the receipt proves tampering (the vault signed another
// output, or ran other params, than the participant claims). It keeps the
// receipt (KeepReceipt).
func (c *Coordinator) note(r, i int, a answer, pr *ParticipantRound) error {
	pr.Index, pr.Vault = i, c.parts[i].DID()
	if a.claims != nil {
		pr.JobID, pr.ReceiptID, pr.LogIndex = a.claims.JobID, a.claims.ID, a.claims.LogIndex
		pr.IssuedAt = a.claims.IssuedAt.UTC().Format(time.RFC3339)
		if a.claims.DP != nil {
			pr.Epsilon, pr.SpentEps = a.claims.DP.Epsilon, a.claims.DP.SpentEpsilon
		}
		if c.cfg.KeepReceipt != nil {
			if err := c.cfg.KeepReceipt(r, i, a.reply.Receipt); err != nil {
				return fmt.Errorf("keep receipt: %w", err)
			}
		}
	}
	if a.err != nil {
		pr.Status, pr.Reason = StatusSkipped, reasonOf(a.err)
		if r := trove.ErrorReason(a.err); r == "receipt_mismatch" || r == "params_mismatch" {
			pr.Status = StatusFlagged
		}
	}
	return nil
}

// reasonOf says why a participant was skipped, without its details.
func reasonOf(err error) string {
	if r := trove.ErrorReason(err); r != "" {
		return r
	}
	if c := trove.ErrorCode(err); c != "" && c != trove.EINTERNAL {
		return string(c)
	}
	return "error"
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
