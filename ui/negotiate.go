package ui

import (
	"context"
	"errors"
	"math"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/vault"
)

// Limits on a counter-offer form.
const (
	maxFormField = 64 // a number, a date or a column name
	dateLayout   = "2006-01-02"
)

// counterForm is the counter-offer form as shown: the terms asked, or
// what the owner typed when it was refused.
type counterForm struct {
	Runs    string
	Until   string // YYYY-MM-DD
	Columns map[string]bool
	Output  string // "keep", "review" or "dp"
	Epsilon string
	Price   string // a decimal amount, such as 2.50
}

// askedColumns returns the columns a request asks for: those it names, or
// every column of its dataset.
func (s *Server) askedColumns(ctx context.Context, x *vault.ConsentRequest) ([]string, error) {
	if len(x.Columns) > 0 {
		return x.Columns, nil
	}
	ds, err := s.vault.Datasets(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		if d.Name == x.Dataset {
			cols := make([]string, len(d.Schema))
			for i, f := range d.Schema {
				cols[i] = f.Name
			}
			return cols, nil
		}
	}
	return nil, nil
}

// askedForm fills the counter-offer form with the terms asked.
func askedForm(x *vault.ConsentRequest, cols []string) counterForm {
	f := counterForm{Runs: strconv.Itoa(x.MaxRuns), Until: x.ExpiresAt.UTC().Format(dateLayout), Columns: map[string]bool{},
		Output: "keep", Price: decimal(x.Price.Amount)}
	for _, c := range cols {
		f.Columns[c] = true
	}
	if x.Output.Policy == consent.OutputDP {
		f.Epsilon = strconv.FormatFloat(x.Output.Epsilon, 'g', -1, 64)
	}
	return f
}

// decimal writes minor units with two decimals, without a currency.
func decimal(amount int64) string {
	return strings.TrimSuffix(money(amount, ""), " ")
}

// parseNarrowing reads a counter-offer form against the request it
// answers: each term may only stay or narrow (the vault checks again,
// and signs nothing wider). A term left as asked stays unset in the
// Narrowing. Its errors are meant for the owner to read.
func parseNarrowing(form url.Values, x *vault.ConsentRequest, cols []string) (counterForm, vault.Narrowing, error) {
	f := counterForm{Runs: form.Get("runs"), Until: form.Get("until"), Output: form.Get("output"),
		Epsilon: form.Get("epsilon"), Price: form.Get("price"), Columns: map[string]bool{}}
	for _, c := range form["columns"] {
		if len(c) <= maxFormField && slices.Contains(cols, c) {
			f.Columns[c] = true
		}
	}
	var n vault.Narrowing
	bad := func(format string, a ...any) (counterForm, vault.Narrowing, error) {
		return f, n, trove.Errorf(trove.EINVALID, format, a...)
	}
	for _, v := range []string{f.Runs, f.Until, f.Output, f.Epsilon, f.Price} {
		if len(v) > maxFormField {
			return bad("A value in the form is too long.")
		}
	}
	runs, err := strconv.Atoi(strings.TrimSpace(f.Runs))
	if err != nil || runs < 1 || runs > x.MaxRuns {
		return bad("Runs must be a whole number from 1 to %d, the number asked for.", x.MaxRuns)
	}
	if runs != x.MaxRuns {
		n.MaxRuns = runs
	}
	day, err := time.Parse(dateLayout, strings.TrimSpace(f.Until))
	if err != nil {
		return bad("Give the last day as a date, such as %s.", x.ExpiresAt.UTC().Format(dateLayout))
	}
	if end := day.Add(24*time.Hour - time.Second); end.Before(x.ExpiresAt) {
		n.ExpiresAt = end
	} else if day.After(x.ExpiresAt) {
		return bad("The consent can end on %s at the latest: the date asked for.", x.ExpiresAt.UTC().Format(dateLayout))
	}
	var chosen []string
	for _, c := range cols {
		if f.Columns[c] {
			chosen = append(chosen, c)
		}
	}
	if len(chosen) == 0 {
		return bad("Keep at least one column: with none, nothing could be computed.")
	}
	if len(chosen) < len(cols) {
		n.Columns = chosen
	}
	switch f.Output {
	case "keep", "":
	case consent.OutputReview:
		if x.Output.Policy != consent.OutputReview {
			n.Output = &consent.OutputPolicy{Policy: consent.OutputReview}
		}
	case consent.OutputDP:
		eps, err := strconv.ParseFloat(strings.TrimSpace(f.Epsilon), 64)
		if err != nil || math.IsNaN(eps) || !(eps > 0) || eps > 10 {
			return bad("With privacy noise, give ε as a number above 0 and at most 10, such as 0.5.")
		}
		if x.Output.Policy == consent.OutputDP && eps > x.Output.Epsilon {
			return bad("ε can only be lowered: the request asked for at most %g.", x.Output.Epsilon)
		}
		n.Output = &consent.OutputPolicy{Policy: consent.OutputDP, Epsilon: eps, Delta: x.Output.Delta}
	default:
		return bad("Choose what may leave: as asked, results you review, or only results with privacy noise.")
	}
	price, err := parseMoney(f.Price)
	if err != nil || price < x.Price.Amount {
		return bad("The price must be an amount of at least %s, such as 2.50.", money(x.Price.Amount, x.Price.Currency))
	}
	if price != x.Price.Amount {
		n.Price = price
	}
	if n.MaxRuns == 0 && n.ExpiresAt.IsZero() && n.Columns == nil && n.Output == nil && n.Price == 0 {
		return bad("Nothing was changed: narrow at least one term, or approve the request as it is.")
	}
	return f, n, nil
}

// parseMoney reads a decimal amount with at most two decimals into minor
// units.
func parseMoney(s string) (int64, error) {
	s = strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(frac) > 2 || len(whole) > 12 {
		return 0, errors.New("not an amount")
	}
	for len(frac) < 2 {
		frac += "0"
	}
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			return 0, errors.New("not an amount")
		}
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	f, _ := strconv.ParseInt(frac, 10, 64)
	return w*100 + f, nil
}

func (s *Server) counter(w http.ResponseWriter, r *http.Request, ss *session, _ *multipart.Reader) {
	ctx := r.Context()
	id := r.PathValue("id")
	x, err := s.vault.ConsentRequest(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cols, err := s.askedColumns(ctx, x)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, n, err := parseNarrowing(r.PostForm, x, cols)
	if err == nil {
		_, err = s.vault.Counter(ctx, id, n)
	}
	if err != nil {
		if trove.ErrorCode(err) != trove.EINVALID {
			s.fail(w, r, err)
			return
		}
		msg := "This counter-offer was not accepted: it must not grant more than was asked."
		var te *trove.Error
		if errors.As(err, &te) && te.Message != "" && te.Reason == "" {
			msg = te.Message
		}
		d := s.requestView(x, cols)
		d.Form, d.Problem = f, msg
		s.renderWith(w, r, ss, api.StatusOf(trove.EINVALID), "request", pageData{Title: "Review a request", Nav: "requests", Data: d})
		return
	}
	http.Redirect(w, r, "/requests/"+url.PathEscape(id)+"?done=countered", http.StatusSeeOther)
}

// findConsent returns the consent with the given id.
func (s *Server) findConsent(ctx context.Context, id string) (*vault.Consent, error) {
	cs, err := s.vault.Consents(ctx)
	if err != nil {
		return nil, err
	}
	for i := range cs {
		if cs[i].ID == id {
			return &cs[i], nil
		}
	}
	return nil, trove.Errorf(trove.ENOTFOUND, "There is no such consent.")
}

func (s *Server) confirmRevoke(w http.ResponseWriter, r *http.Request, ss *session) {
	c, err := s.findConsent(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if c.RevokedAt != nil {
		s.fail(w, r, &trove.Error{Code: trove.ECONFLICT, Reason: "revoked", Message: "This consent is already revoked."})
		return
	}
	s.render(w, r, ss, "revoke", pageData{Title: "Revoke a consent", Nav: "consents", Data: c})
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request, _ *session, _ *multipart.Reader) {
	if _, err := s.vault.Revoke(r.Context(), r.PathValue("id")); err != nil {
		if trove.ErrorCode(err) == trove.ECONFLICT {
			err = &trove.Error{Code: trove.ECONFLICT, Reason: "revoked", Message: "This consent is already revoked."}
		}
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/consents?done=revoked", http.StatusSeeOther)
}
