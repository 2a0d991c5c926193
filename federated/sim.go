package federated

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/dataset"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/requester"
	"github.com/trove-project/trove/vault"
)

// Poison kinds.
const (
	// PoisonLabelFlip poisons a vault's data: each label y becomes
	// (y+1) mod K before the vault imports it. The vault is honest about
	// what it computes; its data lies.
	PoisonLabelFlip = "label-flip"
	// PoisonScale is a malicious client: it asks its own vault for steps
	// Scale times larger (learning rate times Scale, at most 10). The
	// vault's receipt hashes the params it ran with, so the coordinator
	// catches it by the receipt (params_mismatch).
	PoisonScale = "scale"
	// PoisonNoise is a malicious client that replaces its vault's update
	// with Gaussian noise after the fact; the vault's receipt names the
	// true output, so the coordinator catches it by the receipt.
	PoisonNoise = "noise"
)

// Poison says how many vaults of a simulation are poisoned, and how.
type Poison struct {
	Count int
	Kind  string
	Scale float64 // for PoisonScale
}

// ParsePoison reads K:label-flip, K:scale:S or K:noise.
func ParsePoison(s string) (Poison, error) {
	parts := strings.Split(s, ":")
	k, err := strconv.Atoi(parts[0])
	if err != nil || k < 0 || k > MaxParticipants || len(parts) < 2 {
		return Poison{}, fmt.Errorf("poison %q: want K:label-flip, K:scale:S or K:noise", s)
	}
	p := Poison{Count: k, Kind: parts[1]}
	switch {
	case p.Kind == PoisonLabelFlip && len(parts) == 2, p.Kind == PoisonNoise && len(parts) == 2:
	case p.Kind == PoisonScale && len(parts) == 3:
		p.Scale, err = strconv.ParseFloat(parts[2], 64)
		if err != nil || !(p.Scale > 0 && p.Scale <= 1000) {
			return Poison{}, fmt.Errorf("poison %q: the scale must be in (0, 1000]", s)
		}
	default:
		return Poison{}, fmt.Errorf("poison %q: want K:label-flip, K:scale:S or K:noise", s)
	}
	return p, nil
}

// SimConfig is a simulation: Vaults real vaults in this process, each
// with its own SQLite database, key and HTTP server on 127.0.0.1:0, over
// a seeded split of Data.
type SimConfig struct {
	Data    *dataset.Table
	Label   string
	Classes int // for an integer label; 0: its largest value + 1
	Vaults  int
	Split   string // iid, dirichlet:ALPHA or one-class
	Rounds  int
	Poison  Poison
	Seed    uint64
	Dir     string // where the vaults live (required; a temporary directory)

	// DPEpsilon, if > 0, is each vault's lifetime ε over the whole
	// training: the owner sets the dp policy on the dataset with a budget
	// of (DPEpsilon, DPDelta), each round spending 1/Rounds of it in ρ.
	DPEpsilon float64
	DPDelta   float64 // default 1e-5
	// DPRounds is how many rounds the budget is divided into; default
	// Rounds. Fewer makes the vaults refuse the rounds beyond.
	DPRounds int

	// Training: the Config the coordinator uses; Target, Classes, Rounds,
	// Test and Standardise are set by the simulation.
	Training Config

	// WorkFactor seals the throwaway keys; default 10.
	WorkFactor int
	Logger     *slog.Logger
}

// SimResult is the outcome of a simulation.
type SimResult struct {
	Vaults              int     `json:"vaults"`
	Split               string  `json:"split"`
	Aggregator          string  `json:"aggregator"`
	Rounds              int     `json:"rounds"`
	TestRows            int     `json:"test_rows"`
	FederatedAccuracy   float64 `json:"federated_accuracy"`
	CentralizedAccuracy float64 `json:"centralized_accuracy"` // the same training on the pooled rows, without DP
	// CentralizedDPAccuracy, under DP, is the centralized baseline as one
	// vault holding every training row under the same budget.
	CentralizedDPAccuracy *float64 `json:"centralized_dp_accuracy,omitempty"`
	Poisoned              []int    `json:"poisoned"`
	Flagged               []int    `json:"flagged"` // vaults flagged in most of the rounds they sent an update
	PoisonedFlagRate      float64  `json:"poisoned_flag_rate"`
	HonestFlagRate        float64  `json:"honest_flag_rate"`
	// HonestUpdateFlagRate is the share of the honest vaults' updates,
	// over all rounds, that were flagged.
	HonestUpdateFlagRate float64 `json:"honest_update_flag_rate"`
	EpsilonSpent         float64 `json:"epsilon_spent"` // the most any vault spent, as ε
	SecondsPerRound      float64 `json:"seconds_per_round"`
	SetupSeconds         float64 `json:"setup_seconds"`
	State                *State  `json:"-"`
}

// tableLabels returns the label of each row as 0..k−1, and k.
func tableLabels(t *dataset.Table, label string, classes int) ([]int, int, error) {
	c := t.Column(label)
	if c == nil {
		return nil, 0, trove.Errorf(trove.EINVALID, "the label column %q is not in the data", label)
	}
	out := make([]int, t.Rows)
	switch c.Kind {
	case dataset.Categorical:
		for i, code := range c.Codes {
			out[i] = int(code)
		}
		return out, len(c.Levels), nil
	case dataset.Integer:
		hi := int64(0)
		for i, v := range c.Ints {
			if v < 0 || v > 100 {
				return nil, 0, trove.Errorf(trove.EINVALID, "label %d in row %d is not a class 0..100", v, i+1)
			}
			out[i] = int(v)
			hi = max(hi, v)
		}
		if classes == 0 {
			classes = int(hi) + 1
		}
		return out, classes, nil
	}
	return nil, 0, trove.Errorf(trove.EINVALID, "the label column %q must be categorical or integer", label)
}

// split deals the rows (indexes into labels) to k vaults.
func split(spec string, labels []int, k int, rng *mrand.Rand) ([][]int, error) {
	name, arg, _ := strings.Cut(spec, ":")
	switch name {
	case "iid":
		return SplitIID(len(labels), k, rng)
	case "dirichlet":
		alpha, err := strconv.ParseFloat(arg, 64)
		if err != nil || !(alpha > 0 && alpha <= 1e6) {
			return nil, trove.Errorf(trove.EINVALID, "split %q: want dirichlet:ALPHA with ALPHA > 0", spec)
		}
		return SplitDirichlet(labels, k, alpha, rng)
	case "one-class":
		return SplitOneClass(labels, k)
	}
	return nil, trove.Errorf(trove.EINVALID, "split %q: want iid, dirichlet:ALPHA or one-class", spec)
}

// flipLabels replaces each label y of t by (y+1) mod k.
func flipLabels(t *dataset.Table, label string, k int) {
	c := t.Column(label)
	for i := range c.Codes {
		c.Codes[i] = (c.Codes[i] + 1) % uint32(k)
	}
	for i := range c.Ints {
		c.Ints[i] = (c.Ints[i] + 1) % int64(k)
	}
}

// Sim is a running simulation: its vaults serve until Close.
type Sim struct {
	// Participants reach the vaults over HTTP, in order; the poisoned
	// ones by a malicious client when the poison is PoisonScale or
	// PoisonNoise.
	Participants []Participant
	// Vaults are the vaults themselves, as their owners hold them.
	Vaults []*vault.Vault
	// Training is the coordinator's configuration for the simulation.
	Training Config
	// Poisoned are the indexes of the poisoned vaults.
	Poisoned []int
	// Tables are the rows each vault imported (poisoned ones included).
	Tables []*dataset.Table
	// Train is the pooled (unpoisoned) training rows.
	Train *dataset.Table
	// Policy is each vault's DP policy per job (zero without DP).
	Policy compute.OutputPolicy

	cfg        SimConfig
	req        *requester.Requester
	passphrase []byte
	servers    []*api.Server
	setup      time.Duration
}

// Close stops the vaults' servers and closes them.
func (s *Sim) Close() {
	for i, srv := range s.servers {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Close(sctx)
		cancel()
		s.Vaults[i].Close()
	}
	s.servers, s.Vaults = nil, nil
}

// Simulate runs a simulation from start to end.
func Simulate(ctx context.Context, cfg SimConfig) (*SimResult, error) {
	s, err := NewSim(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Run(ctx)
}

// NewSim starts a simulation's vaults: creates them, deals the rows,
// imports them, sets the DP budget, and has the coordinator's requester
// ask each for consent, which the sim approves as the owner would.
func NewSim(ctx context.Context, cfg SimConfig) (_ *Sim, err error) {
	now := cfg.Training.Now
	if now == nil {
		now = time.Now
	}
	setupStart := now()
	if cfg.Data == nil || cfg.Dir == "" || cfg.Vaults < 1 || cfg.Vaults > MaxParticipants {
		return nil, trove.Errorf(trove.EINVALID, "a simulation needs data, a directory and 1..%d vaults", MaxParticipants)
	}
	if cfg.Poison.Count > cfg.Vaults {
		return nil, trove.Errorf(trove.EINVALID, "%d poisoned vaults of %d", cfg.Poison.Count, cfg.Vaults)
	}
	if cfg.Rounds < 1 || cfg.Rounds > MaxRounds {
		return nil, trove.Errorf(trove.EINVALID, "rounds %d is not in 1..%d", cfg.Rounds, MaxRounds)
	}
	if cfg.WorkFactor == 0 {
		cfg.WorkFactor = 10
	}
	if cfg.DPDelta == 0 {
		cfg.DPDelta = DefaultDelta
	}
	if cfg.DPRounds == 0 {
		cfg.DPRounds = cfg.Rounds
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	labels, k, err := tableLabels(cfg.Data, cfg.Label, cfg.Classes)
	if err != nil {
		return nil, err
	}
	rng := mrand.New(mrand.NewPCG(cfg.Seed, 0x7472_6f76_65))
	train, test, err := StratifiedHoldout(labels, 0.2, rng)
	if err != nil {
		return nil, err
	}
	trainLabels := make([]int, len(train))
	for i, r := range train {
		trainLabels[i] = labels[r]
	}
	parts, err := split(cfg.Split, trainLabels, cfg.Vaults, rng)
	if err != nil {
		return nil, err
	}
	poisoned := rng.Perm(cfg.Vaults)[:cfg.Poison.Count]
	slices.Sort(poisoned)
	s := &Sim{cfg: cfg, Poisoned: poisoned, Train: cfg.Data.Take(train)}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	var pass [18]byte
	if _, err := rand.Read(pass[:]); err != nil {
		return nil, err
	}
	passphrase := []byte(base64.RawURLEncoding.EncodeToString(pass[:]))
	req, err := requester.Init(filepath.Join(cfg.Dir, "requester"), passphrase, requester.Options{WorkFactor: cfg.WorkFactor})
	if err != nil {
		return nil, err
	}
	tc := cfg.Training
	tc.Target, tc.Rounds, tc.Test = cfg.Label, cfg.Rounds, cfg.Data.Take(test)
	if cfg.Data.Column(cfg.Label).Kind == dataset.Integer {
		tc.Classes = k
	}
	dp := cfg.DPEpsilon > 0
	if dp {
		// Moments have no private form: under dp the coordinator
		// standardises by its own held-out rows, which it holds anyway.
		if tc.Center == nil {
			tc.Center, tc.Scale, tc.Features, err = HeldOutMoments(ctx, tc.Test, tc.Target, tc.Classes)
			if err != nil {
				return nil, err
			}
		}
		s.Policy = compute.OutputPolicy{Kind: compute.PolicyDP, Epsilon: RoundEpsilon(cfg.DPEpsilon, cfg.DPDelta, cfg.DPRounds), Delta: cfg.DPDelta}
		if err := s.Policy.Validate(); err != nil {
			return nil, trove.Errorf(trove.EINVALID, "dp: %v", err)
		}
	} else {
		tc.Standardise = tc.Center == nil
	}
	if tc.Contribution == nil {
		tc.Contribution = req.IssueContribution
	}
	if tc.Price == (consent.Money{}) {
		tc.Price = consent.Money{Amount: SimPrice, Currency: "EUR"}
	}
	if tc.Training == "" {
		tc.Training = fmt.Sprintf("sim seed %d", cfg.Seed)
	}
	s.Training = tc
	s.req, s.passphrase = req, passphrase
	for i := range cfg.Vaults {
		rows := make([]int, len(parts[i]))
		for j, r := range parts[i] {
			rows[j] = train[r]
		}
		t := cfg.Data.Take(rows)
		isPoisoned := slices.Contains(poisoned, i)
		if isPoisoned && cfg.Poison.Kind == PoisonLabelFlip {
			flipLabels(t, cfg.Label, k)
		}
		p, err := s.addVault(ctx, t)
		if err != nil {
			return nil, err
		}
		if isPoisoned && cfg.Poison.Kind != PoisonLabelFlip {
			p = &maliciousClient{inner: p, poison: cfg.Poison, rng: mrand.New(mrand.NewPCG(cfg.Seed, uint64(i)))}
		}
		s.Participants = append(s.Participants, p)
	}
	s.setup = now().Sub(setupStart)
	return s, nil
}

// addVault starts one more vault holding t: its own home, key and HTTP
// server on 127.0.0.1:0; the dp budget if the simulation has one; and the
// coordinator's consent, approved as the owner would. It returns the
// vault's participant.
func (s *Sim) addVault(ctx context.Context, t *dataset.Table) (Participant, error) {
	cfg := s.cfg
	home := filepath.Join(cfg.Dir, fmt.Sprintf("vault-%03d", len(s.Vaults)))
	v, err := vault.Create(ctx, vault.Config{Home: home, WorkFactor: cfg.WorkFactor, Logger: cfg.Logger}, s.passphrase)
	if err != nil {
		return nil, err
	}
	srv := api.NewServer(v, "127.0.0.1:0", cfg.Logger)
	// One coordinator on loopback is every vault's only client: the rate
	// limits meant for the open internet would only slow it.
	srv.SetLimits(api.Limits{PerIP: rate.Inf, PerRequester: rate.Inf})
	if err := srv.Open(); err != nil {
		v.Close()
		return nil, err
	}
	s.Vaults, s.servers = append(s.Vaults, v), append(s.servers, srv)
	s.Tables = append(s.Tables, t)
	if _, err := v.ImportTable(ctx, SimDataset, t); err != nil {
		return nil, err
	}
	if s.Policy.Kind == compute.PolicyDP {
		if _, err := v.SetPrivacy(ctx, SimDataset, s.Policy, cfg.DPEpsilon, cfg.DPDelta); err != nil {
			return nil, err
		}
	}
	client, err := api.NewClient(srv.URL(), nil)
	if err != nil {
		return nil, err
	}
	st, err := s.req.RequestConsent(ctx, client, TrainingAsk(SimDataset, cfg.Rounds, s.Training.Price, 24*time.Hour, s.Policy.Epsilon, s.Policy.Delta))
	if err != nil {
		return nil, err
	}
	// The sim approves as the owner would (`trove consent approve`).
	if _, err := v.Approve(ctx, st.ID); err != nil {
		return nil, err
	}
	st, _, err = s.req.RequestStatus(ctx, client, st.ID)
	if err != nil {
		return nil, err
	}
	return &VaultParticipant{Requester: s.req, Client: client, Vault: v.DID(), Credential: st.Credential}, nil
}

// SimDataset is the name each simulated vault imports its rows under.
const SimDataset = "train"

// SimPrice is the price per round, in EUR minor units, a simulation's
// consents ask for when its Training config names none.
const SimPrice = 10

// Run trains the centralized baseline and the federation and compares
// them.
func (s *Sim) Run(ctx context.Context) (*SimResult, error) {
	tc := s.Training
	res := &SimResult{Vaults: s.cfg.Vaults, Split: s.cfg.Split, Rounds: s.cfg.Rounds, TestRows: tc.Test.Rows, Poisoned: slices.Clone(s.Poisoned), SetupSeconds: s.setup.Seconds()}
	var err error
	if res.Poisoned == nil {
		res.Poisoned = []int{}
	}
	// The centralized baseline: the same built-in over the pooled training
	// rows (unpoisoned), for the same number of rounds, without DP; under
	// DP also as one vault holding every row under the same budget.
	if res.CentralizedAccuracy, err = s.centralized(ctx, compute.OutputPolicy{}); err != nil {
		return nil, err
	}
	if s.Policy.Kind == compute.PolicyDP {
		acc, err := s.centralized(ctx, s.Policy)
		if err != nil {
			return nil, err
		}
		res.CentralizedDPAccuracy = &acc
	}
	co, err := NewCoordinator(tc, s.Participants)
	if err != nil {
		return nil, err
	}
	res.Aggregator = co.cfg.Aggregator.String()
	st, err := co.Run(ctx)
	if err != nil {
		return nil, err
	}
	res.State = st
	if m := st.Model; m.Weights != nil {
		ev, err := compute.LogRegAccuracy(m, tc.Test)
		if err != nil {
			return nil, err
		}
		res.FederatedAccuracy = ev.Accuracy
	}
	summarise(res, st)
	return res, nil
}

// centralized returns the test accuracy of the centralized baseline
// under policy (the zero policy: none).
func (s *Sim) centralized(ctx context.Context, policy compute.OutputPolicy) (float64, error) {
	m, err := Centralized(ctx, s.Train, s.Training, policy)
	if err != nil {
		return 0, err
	}
	ev, err := compute.LogRegAccuracy(m, s.Training.Test)
	if err != nil {
		return 0, err
	}
	return ev.Accuracy, nil
}

// summarise fills in the flag rates, flagged vaults, ε and timing.
func summarise(res *SimResult, st *State) {
	n := len(st.Vaults)
	sent := make([]int, n)
	flagged := make([]int, n)
	spent := make([]float64, n)
	secs := 0.0
	for _, r := range st.Rounds {
		secs += r.Seconds
		for _, p := range r.Participants {
			if p.Status != StatusSkipped || p.Reason == "no quorum" {
				sent[p.Index]++
			}
			if p.Status == StatusFlagged {
				flagged[p.Index]++
			}
			spent[p.Index] = math.Max(spent[p.Index], p.SpentEps)
		}
	}
	if len(st.Rounds) > 0 {
		res.SecondsPerRound = secs / float64(len(st.Rounds))
	}
	res.Flagged = []int{}
	var poisonedFlagged, honestFlagged, honest, honestSent, honestUpdatesFlagged int
	for i := range n {
		if !slices.Contains(res.Poisoned, i) {
			honestSent += sent[i]
			honestUpdatesFlagged += flagged[i]
		}
		res.EpsilonSpent = math.Max(res.EpsilonSpent, spent[i])
		isFlagged := sent[i] > 0 && 2*flagged[i] > sent[i]
		if isFlagged {
			res.Flagged = append(res.Flagged, i)
		}
		switch {
		case slices.Contains(res.Poisoned, i) && isFlagged:
			poisonedFlagged++
		case !slices.Contains(res.Poisoned, i):
			honest++
			if isFlagged {
				honestFlagged++
			}
		}
	}
	if len(res.Poisoned) > 0 {
		res.PoisonedFlagRate = float64(poisonedFlagged) / float64(len(res.Poisoned))
	}
	if honest > 0 {
		res.HonestFlagRate = float64(honestFlagged) / float64(honest)
	}
	if honestSent > 0 {
		res.HonestUpdateFlagRate = float64(honestUpdatesFlagged) / float64(honestSent)
	}
}

// HeldOutMoments returns the mean and deviation of each feature of t, by
// the built-in's moments mode: what a coordinator standardises by under
// dp, where the vaults' moments have no private form, from rows it holds
// itself (its test set).
func HeldOutMoments(ctx context.Context, t *dataset.Table, target string, classes int) (center, scale []float64, features []string, err error) {
	p := map[string]any{"target": target, "moments": true}
	if classes != 0 {
		p["classes"] = classes
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, nil, nil, err
	}
	out, err := compute.RunBuiltin(ctx, compute.LogRegTrainID, compute.Input{JobID: "moments", Table: t, Params: raw})
	if err != nil {
		return nil, nil, nil, err
	}
	var m struct {
		Features []string  `json:"features"`
		Samples  float64   `json:"samples"`
		Sums     []float64 `json:"sums"`
		Sumsq    []float64 `json:"sumsq"`
	}
	if err := json.Unmarshal(out.Result, &m); err != nil {
		return nil, nil, nil, err
	}
	center, scale = make([]float64, len(m.Sums)), make([]float64, len(m.Sums))
	for j := range m.Sums {
		mean := m.Sums[j] / m.Samples
		sd := math.Sqrt(math.Max(0, m.Sumsq[j]/m.Samples-mean*mean))
		if !(sd > 1e-12) {
			sd = 1
		}
		center[j], scale[j] = mean, sd
	}
	return center, scale, m.Features, nil
}

// Centralized trains the same model on the pooled table t by the same
// built-in, for cfg.Rounds rounds of cfg.Epochs epochs: the baseline a
// federation is compared with. With cfg.Center unset it standardises by
// t's own moments (what the federation's pooled moments give). Under a dp
// policy every round runs the built-in's private form, as a single vault
// holding all the rows would.
func Centralized(ctx context.Context, t *dataset.Table, cfg Config, policy compute.OutputPolicy) (compute.LogRegModel, error) {
	cfg = cfg.withDefaults(1)
	m := compute.LogRegModel{Target: cfg.Target, Classes: cfg.Classes, Features: cfg.Features, Center: cfg.Center, Scale: cfg.Scale}
	if m.Center == nil && cfg.Standardise {
		var err error
		if m.Center, m.Scale, m.Features, err = HeldOutMoments(ctx, t, cfg.Target, cfg.Classes); err != nil {
			return m, err
		}
	}
	c := &Coordinator{cfg: cfg}
	rng := mrand.New(mrand.NewPCG(1, 2))
	for r := 1; r <= cfg.Rounds; r++ {
		params, err := c.params(m, false)
		if err != nil {
			return m, err
		}
		in := compute.Input{JobID: fmt.Sprintf("central-%d", r), Table: t, Params: params}
		var out *compute.Output
		if policy.Kind == compute.PolicyDP {
			out, err = compute.RunBuiltinDP(ctx, compute.LogRegTrainID, in, policy, rng)
		} else {
			out, err = compute.RunBuiltin(ctx, compute.LogRegTrainID, in)
		}
		if err != nil {
			return m, err
		}
		res, err := parseTrainResult(out.Result, len(m.Weights), nil)
		if err != nil {
			return m, fmt.Errorf("centralized round %d: %w", r, err)
		}
		if m.Weights == nil {
			m.Weights = make([]float64, len(res.Update))
		}
		for j, d := range res.Update {
			m.Weights[j] += cfg.ServerRate * d
		}
	}
	return m, nil
}

// maliciousClient is a participant that misbehaves (see PoisonScale and
// PoisonNoise).
type maliciousClient struct {
	inner  Participant
	poison Poison
	rng    *mrand.Rand
}

func (m *maliciousClient) DID() string { return m.inner.DID() }

// Settle settles as the client it stands between would: its vault's
// claims are settled like any other's.
func (m *maliciousClient) Settle(ctx context.Context, claim *ledger.Claim, contribution string) (*ledger.Claim, error) {
	s, ok := m.inner.(Settler)
	if !ok {
		return nil, trove.Errorf(trove.EUNAVAILABLE, "the participant cannot settle claims")
	}
	return s.Settle(ctx, claim, contribution)
}

// Claim reads a claim through the client it stands between.
func (m *maliciousClient) Claim(ctx context.Context, id string) (*ledger.Claim, error) {
	s, ok := m.inner.(Settler)
	if !ok {
		return nil, trove.Errorf(trove.EUNAVAILABLE, "the participant cannot read claims")
	}
	return s.Claim(ctx, id)
}

func (m *maliciousClient) Run(ctx context.Context, params json.RawMessage) (*Reply, error) {
	var p map[string]any
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, err
	}
	if p["moments"] == true {
		return m.inner.Run(ctx, params)
	}
	switch m.poison.Kind {
	case PoisonScale:
		lr, _ := p["learning_rate"].(float64)
		p["learning_rate"] = math.Min(10, lr*m.poison.Scale)
		raw, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		return m.inner.Run(ctx, raw)
	case PoisonNoise:
		reply, err := m.inner.Run(ctx, params)
		if err != nil {
			return nil, err
		}
		var res map[string]any
		if err := json.Unmarshal(reply.Result, &res); err != nil {
			return nil, err
		}
		up, _ := res["update"].([]any)
		for j := range up {
			up[j] = m.rng.NormFloat64()
		}
		if reply.Result, err = json.Marshal(res); err != nil {
			return nil, err
		}
		return reply, nil
	}
	return m.inner.Run(ctx, params)
}
