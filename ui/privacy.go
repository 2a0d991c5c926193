package ui

import (
	"errors"
	"math"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/vault"
)

// maxNumberLen bounds a number typed into a form.
const maxNumberLen = 32

// DatasetView is a dataset with its privacy settings and budget.
type DatasetView struct {
	vault.Dataset
	Privacy *vault.Privacy
}

// datasetViews reads the privacy settings of each dataset.
func (s *Server) datasetViews(r *http.Request, ds []vault.Dataset) ([]DatasetView, error) {
	out := make([]DatasetView, 0, len(ds))
	for _, d := range ds {
		p, err := s.vault.Privacy(r.Context(), d.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, DatasetView{Dataset: d, Privacy: p})
	}
	return out, nil
}

// privacyData is the privacy settings page's content.
type privacyData struct {
	D DatasetView
	// Form holds what the owner typed, shown again with Problem when it
	// was refused.
	Form    privacyForm
	Problem string
	MaxEps  int
	MaxDel  float64
}

// privacyForm is the privacy settings form as typed.
type privacyForm struct {
	Policy, JobEpsilon, JobDelta, BudgetEpsilon, BudgetDelta string
}

func formOf(p *vault.Privacy) privacyForm {
	f := privacyForm{Policy: p.Minimum.Kind, BudgetEpsilon: fmtNum(p.BudgetEpsilon), BudgetDelta: fmtNum(p.BudgetDelta)}
	if p.Minimum.Kind == compute.PolicyDP {
		f.JobEpsilon, f.JobDelta = fmtNum(p.Minimum.Epsilon), fmtNum(p.Minimum.Delta)
	}
	return f
}

func fmtNum(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// privacySettings is what a privacy form asks for, parsed.
type privacySettings struct {
	Minimum       compute.OutputPolicy
	BudgetEpsilon float64
	BudgetDelta   float64
}

// parsePrivacyForm reads the privacy settings form: a known policy, and
// numbers in the ranges the vault accepts. Its errors are meant for the
// owner to read; the vault checks the same ranges again.
func parsePrivacyForm(form url.Values) (privacyForm, privacySettings, error) {
	f := privacyForm{
		Policy: form.Get("policy"), JobEpsilon: form.Get("job_epsilon"), JobDelta: form.Get("job_delta"),
		BudgetEpsilon: form.Get("budget_epsilon"), BudgetDelta: form.Get("budget_delta"),
	}
	var ps privacySettings
	var err error
	switch f.Policy {
	case compute.PolicyRelease, compute.PolicyReview:
		ps.Minimum.Kind = f.Policy
	case compute.PolicyDP:
		ps.Minimum.Kind = f.Policy
		if ps.Minimum.Epsilon, err = formNumber("ε per run", f.JobEpsilon, false, compute.MaxEpsilon); err != nil {
			return f, ps, err
		}
		if ps.Minimum.Epsilon == 0 {
			return f, ps, trove.Errorf(trove.EINVALID, "ε per run must be more than 0: with 0 nothing could be computed.")
		}
		if ps.Minimum.Delta, err = formNumber("δ per run", f.JobDelta, true, compute.MaxDelta); err != nil {
			return f, ps, err
		}
	default:
		return f, ps, trove.Errorf(trove.EINVALID, "Choose what may leave: results at once, results you review, or only results with privacy noise.")
	}
	if ps.BudgetEpsilon, err = formNumber("the lifetime ε budget", f.BudgetEpsilon, true, vault.MaxBudgetEpsilon); err != nil {
		return f, ps, err
	}
	if ps.BudgetDelta, err = formNumber("the lifetime δ budget", f.BudgetDelta, true, vault.MaxBudgetDelta); err != nil {
		return f, ps, err
	}
	return f, ps, nil
}

// formNumber parses a number typed by the owner: finite, from 0 to most,
// and 0 if left empty when emptyIsZero.
func formNumber(what, s string, emptyIsZero bool, most float64) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" && emptyIsZero {
		return 0, nil
	}
	if len(s) > maxNumberLen {
		return 0, trove.Errorf(trove.EINVALID, "The value for %s is too long: type a number such as 0.5.", what)
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) || x < 0 || x > most {
		return 0, trove.Errorf(trove.EINVALID, "The value for %s must be a number from 0 to %s, such as 0.5.", what, fmtNum(most))
	}
	return x, nil
}

// datasetNamed finds a dataset and its privacy settings by name.
func (s *Server) datasetNamed(r *http.Request, name string) (*DatasetView, error) {
	ds, err := s.vault.Datasets(r.Context())
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		if d.Name == name {
			vs, err := s.datasetViews(r, []vault.Dataset{d})
			if err != nil {
				return nil, err
			}
			return &vs[0], nil
		}
	}
	return nil, trove.Errorf(trove.ENOTFOUND, "There is no dataset called %q.", name)
}

func (s *Server) privacyForm(w http.ResponseWriter, r *http.Request, ss *session) {
	d, err := s.datasetNamed(r, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, ss, "privacy", pageData{Title: "Privacy of " + d.Name, Nav: "datasets",
		Data: privacyData{D: *d, Form: formOf(d.Privacy), MaxEps: vault.MaxBudgetEpsilon, MaxDel: vault.MaxBudgetDelta}})
}

func (s *Server) setPrivacy(w http.ResponseWriter, r *http.Request, ss *session, _ *multipart.Reader) {
	d, err := s.datasetNamed(r, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, ps, err := parsePrivacyForm(r.PostForm)
	if err == nil {
		_, err = s.vault.SetPrivacy(r.Context(), d.Name, ps.Minimum, ps.BudgetEpsilon, ps.BudgetDelta)
	}
	if err != nil {
		if trove.ErrorCode(err) != trove.EINVALID {
			s.fail(w, r, err)
			return
		}
		// Show the form again, as typed, with what is wrong.
		msg := "These settings were not accepted."
		var te *trove.Error
		if errors.As(err, &te) && te.Message != "" {
			msg = te.Message
		}
		d := privacyData{D: *d, Form: f, Problem: msg, MaxEps: vault.MaxBudgetEpsilon, MaxDel: vault.MaxBudgetDelta}
		s.renderWith(w, r, ss, api.StatusOf(trove.EINVALID), "privacy", pageData{Title: "Privacy of " + d.D.Name, Nav: "datasets", Data: d})
		return
	}
	http.Redirect(w, r, "/datasets?done=privacy#ds-"+url.PathEscape(d.Name), http.StatusSeeOther)
}
