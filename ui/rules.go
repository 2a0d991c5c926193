package ui

import (
	"encoding/json"
	"errors"
	"math"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/consent"
)

// rulesData is the rules page's content.
type rulesData struct {
	Summary  []string
	Text     string // the rules as JSON, or as the owner typed them
	Problem  string // why typed rules were refused
	Hash     string
	Datasets []string
	Purposes []string
	Pers     []string
	Test     hypothetical
	Verdict  *ruleVerdict
}

// hypothetical is a request the owner made up to try the rules on, as
// typed.
type hypothetical struct {
	Requester, Dataset, Algorithm, Purpose, Runs, Output, Epsilon, Price, Currency, Per, Share, Days string
}

// ruleVerdict is what the rules decide for a hypothetical request.
type ruleVerdict struct {
	Decision string // consent.DecideApprove, DecideDeny or DecideAsk
	RuleID   string
	Problem  string // why the hypothetical request could not be tried
}

// parseHypothetical reads the rules test form into a request, with every
// column of the dataset; cols are the dataset's columns. Its errors are
// meant for the owner to read.
func parseHypothetical(q url.Values, cols map[string][]string, now time.Time) (hypothetical, *consent.Request, []string, error) {
	h := hypothetical{Requester: q.Get("requester"), Dataset: q.Get("dataset"), Algorithm: q.Get("algorithm"),
		Purpose: q.Get("purpose"), Runs: q.Get("runs"), Output: q.Get("output"), Epsilon: q.Get("epsilon"),
		Price: q.Get("price"), Currency: q.Get("currency"), Per: q.Get("per"), Share: q.Get("share"), Days: q.Get("days")}
	bad := func(msg string) (hypothetical, *consent.Request, []string, error) {
		return h, nil, nil, trove.Errorf(trove.EINVALID, "%s", msg)
	}
	for _, v := range []string{h.Dataset, h.Purpose, h.Runs, h.Output, h.Epsilon, h.Price, h.Currency, h.Per, h.Share, h.Days} {
		if len(v) > maxFormField {
			return bad("A value in the test form is too long.")
		}
	}
	if len(h.Requester) > 512 || len(h.Algorithm) > 128 {
		return bad("The requester or the algorithm is too long.")
	}
	dsCols, ok := cols[h.Dataset]
	if !ok {
		return bad("Choose one of your datasets.")
	}
	runs, err := strconv.Atoi(strings.TrimSpace(h.Runs))
	if err != nil || runs < 1 || runs > 1_000_000 {
		return bad("Runs must be a whole number of 1 or more.")
	}
	days, err := strconv.Atoi(strings.TrimSpace(h.Days))
	if err != nil || days < 1 || days > 3650 {
		return bad("The consent should last a whole number of days, from 1 to 3650.")
	}
	price, err := parseMoney(h.Price)
	if err != nil {
		return bad("The price must be an amount such as 2.50.")
	}
	r := &consent.Request{Requester: strings.TrimSpace(h.Requester), Dataset: h.Dataset, Algorithm: strings.TrimSpace(h.Algorithm),
		PurposeCode: h.Purpose, MaxRuns: runs, Price: consent.Money{Amount: price, Currency: strings.ToUpper(strings.TrimSpace(h.Currency))},
		Per: h.Per, CreatedAt: now, ExpiresAt: now.Add(time.Duration(days) * 24 * time.Hour)}
	switch h.Share {
	case "", consent.ShareNone:
	case consent.ShareContribution:
		if h.Per != consent.PerRound {
			return bad("Pay shared by contribution goes with a price per training round.")
		}
		r.Share = consent.ShareContribution
	default:
		return bad("Choose how the pay would be shared.")
	}
	switch h.Output {
	case consent.OutputRelease, consent.OutputReview:
		r.Output.Policy = h.Output
	case consent.OutputDP:
		eps, err := strconv.ParseFloat(strings.TrimSpace(h.Epsilon), 64)
		if err != nil || math.IsNaN(eps) || !(eps > 0) || eps > 10 {
			return bad("With privacy noise, give ε as a number above 0 and at most 10.")
		}
		r.Output = consent.OutputPolicy{Policy: consent.OutputDP, Epsilon: eps}
	default:
		return bad("Choose what would leave.")
	}
	return h, r, dsCols, nil
}

func (s *Server) rules(w http.ResponseWriter, r *http.Request, ss *session) {
	p, err := s.vault.Policy(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	text, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d, cols, err := s.rulesView(r, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Text = string(text)
	if q := r.URL.Query(); q.Has("dataset") {
		h, req, dsCols, err := parseHypothetical(q, cols, s.cfg.Now())
		d.Test = h
		var te *trove.Error
		switch {
		case errors.As(err, &te):
			d.Verdict = &ruleVerdict{Problem: te.Message}
		case err != nil:
			s.fail(w, r, err)
			return
		default:
			dec := p.Decide(req, dsCols)
			d.Verdict = &ruleVerdict{Decision: dec.Decision, RuleID: dec.RuleID}
		}
	}
	s.render(w, r, ss, "rules", pageData{Title: "Standing rules", Nav: "rules", Notice: notice(r), Data: d})
}

// rulesView fills what the rules page shows besides the rules' text, and
// returns each dataset's columns.
func (s *Server) rulesView(r *http.Request, p *consent.Policy) (rulesData, map[string][]string, error) {
	ds, err := s.vault.Datasets(r.Context())
	if err != nil {
		return rulesData{}, nil, err
	}
	d := rulesData{Summary: p.Summary(), Hash: p.Hash(), Purposes: consent.PurposeCodes(),
		Pers: []string{consent.PerRun, consent.PerRound, consent.Per1000Rows},
		Test: hypothetical{Runs: "1", Output: consent.OutputRelease, Price: "1.00", Currency: "EUR", Per: consent.PerRun, Days: "30", Purpose: consent.PurposeResearch}}
	cols := map[string][]string{}
	for _, x := range ds {
		d.Datasets = append(d.Datasets, x.Name)
		for _, f := range x.Schema {
			cols[x.Name] = append(cols[x.Name], f.Name)
		}
		if _, ok := cols[x.Name]; !ok {
			cols[x.Name] = []string{}
		}
	}
	if len(d.Datasets) > 0 {
		d.Test.Dataset = d.Datasets[0]
	}
	return d, cols, nil
}

func (s *Server) setRules(w http.ResponseWriter, r *http.Request, ss *session, _ *multipart.Reader) {
	text := r.PostForm.Get("rules")
	p, err := consent.ParsePolicy([]byte(text))
	if err != nil {
		err = &trove.Error{Code: trove.EINVALID, Reason: "invalid_policy", Message: "These rules were not saved: " + err.Error()}
	} else {
		err = s.vault.SetPolicy(r.Context(), p)
	}
	if err != nil {
		var te *trove.Error
		if trove.ErrorCode(err) != trove.EINVALID || !errors.As(err, &te) {
			s.fail(w, r, err)
			return
		}
		old, perr := s.vault.Policy(r.Context())
		if perr != nil {
			s.fail(w, r, perr)
			return
		}
		d, _, verr := s.rulesView(r, old)
		if verr != nil {
			s.fail(w, r, verr)
			return
		}
		d.Text, d.Problem = text, te.Message
		s.renderWith(w, r, ss, api.StatusOf(trove.EINVALID), "rules", pageData{Title: "Standing rules", Nav: "rules", Data: d})
		return
	}
	http.Redirect(w, r, "/rules?done=rules", http.StatusSeeOther)
}
