package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/vault"
)

// Limits on what the UI shows of what a visiting algorithm wrote.
const (
	// maxShownDepth is the deepest nesting a result is indented to; a
	// deeper one is shown as it came, since indenting it could multiply
	// its size.
	maxShownDepth = 32
	// maxShownResult bounds a result as shown, indented or not.
	maxShownResult = 4 << 20
	// runsShown is how many runs the runs page lists.
	runsShown = 100
)

// heldJobs returns the jobs whose result waits for the owner.
func heldJobs(js []vault.Job) []vault.Job {
	var out []vault.Job
	for _, j := range js {
		if j.State == vault.JobAwaitingReview {
			out = append(out, j)
		}
	}
	return out
}

// JobView is a job with what the owner needs to read it: the consent it
// ran under and, for a failed job, what its program wrote on stderr.
type JobView struct {
	vault.Job
	Dataset string
	Purpose string
	Stderr  string // as text, escaped by the template; empty if none
}

// consentsByID maps the vault's consents by id.
func (s *Server) consentsByID(ctx context.Context) (map[string]vault.Consent, error) {
	cs, err := s.vault.Consents(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string]vault.Consent, len(cs))
	for _, c := range cs {
		m[c.ID] = c
	}
	return m, nil
}

func (s *Server) results(w http.ResponseWriter, r *http.Request, ss *session) {
	ctx := r.Context()
	js, err := s.vault.Jobs(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	byID, err := s.consentsByID(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var out []JobView
	for _, j := range heldJobs(js) {
		c := byID[j.ConsentID]
		out = append(out, JobView{Job: j, Dataset: c.Dataset, Purpose: c.Purpose})
	}
	s.render(w, r, ss, "results", pageData{Title: "Results to review", Nav: "results", Notice: notice(r), Data: out})
}

// resultData is a held result as the owner reviews it.
type resultData struct {
	J        JobView
	Text     string // the result as text, indented when it is JSON
	Size     int
	Decision string // on the confirmation page: "release" or "withhold"
}

// heldResult reads a held job and its result for the review pages.
func (s *Server) heldResult(ctx context.Context, id string) (*resultData, error) {
	j, err := s.vault.ReviewJob(ctx, id)
	if err != nil {
		if trove.ErrorCode(err) == trove.ECONFLICT {
			return nil, &trove.Error{Code: trove.ECONFLICT, Reason: "not_held",
				Message: "This result is no longer waiting for you: it was already released or withheld."}
		}
		return nil, err
	}
	byID, err := s.consentsByID(ctx)
	if err != nil {
		return nil, err
	}
	c := byID[j.ConsentID]
	return &resultData{J: JobView{Job: *j, Dataset: c.Dataset, Purpose: c.Purpose},
		Text: resultText(j.Result), Size: len(j.Result)}, nil
}

func (s *Server) result(w http.ResponseWriter, r *http.Request, ss *session) {
	d, err := s.heldResult(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, ss, "result", pageData{Title: "Review a result", Nav: "results", Data: d})
}

// decision reads the decision in the path: release or withhold.
func decision(r *http.Request) (string, error) {
	switch d := r.PathValue("decision"); d {
	case "release", "withhold":
		return d, nil
	}
	return "", trove.Errorf(trove.ENOTFOUND, "There is no page here.")
}

func (s *Server) confirmDecision(w http.ResponseWriter, r *http.Request, ss *session) {
	dec, err := decision(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := s.heldResult(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Decision = dec
	title := "Release this result?"
	if dec == "withhold" {
		title = "Withhold this result?"
	}
	s.render(w, r, ss, "decide", pageData{Title: title, Nav: "results", Data: d})
}

func (s *Server) decide(w http.ResponseWriter, r *http.Request, _ *session, _ *multipart.Reader) {
	dec, err := decision(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	if dec == "release" {
		_, err = s.vault.ReleaseJob(r.Context(), id)
	} else {
		_, err = s.vault.WithholdJob(r.Context(), id)
	}
	if err != nil {
		if trove.ErrorCode(err) == trove.ECONFLICT {
			err = &trove.Error{Code: trove.ECONFLICT, Reason: "not_held",
				Message: "This result is no longer waiting for you: it was already released or withheld."}
		}
		s.fail(w, r, err)
		return
	}
	done := "released"
	if dec == "withhold" {
		done = "withheld"
	}
	http.Redirect(w, r, "/results?done="+url.QueryEscape(done), http.StatusSeeOther)
}

type runsData struct {
	Jobs  []JobView
	Total int
}

func (s *Server) runs(w http.ResponseWriter, r *http.Request, ss *session) {
	ctx := r.Context()
	js, err := s.vault.Jobs(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	byID, err := s.consentsByID(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := runsData{Total: len(js)}
	if len(js) > runsShown {
		js = js[:runsShown]
	}
	for _, j := range js {
		v := JobView{Job: j, Dataset: byID[j.ConsentID].Dataset}
		if j.State == vault.JobFailed {
			b, err := s.vault.JobStderr(ctx, j.ID)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			v.Stderr = printable(b)
		}
		d.Jobs = append(d.Jobs, v)
	}
	s.render(w, r, ss, "runs", pageData{Title: "Runs", Nav: "activity", Data: d})
}

// resultText shows a result a visiting algorithm wrote as text: indented
// when it is JSON of modest depth and size, else as it came. It is only
// ever put into a page as text, escaped by html/template, never as HTML.
func resultText(b []byte) string {
	if len(b) > maxShownResult {
		b = b[:maxShownResult]
	}
	if json.Valid(b) {
		if depth, lines := jsonShape(b); depth <= maxShownDepth && len(b)+lines*(2*depth+1) <= maxShownResult {
			var buf bytes.Buffer
			if json.Indent(&buf, b, "", "  ") == nil {
				return printable(buf.Bytes())
			}
		}
	}
	return printable(b)
}

// jsonShape returns the deepest nesting of valid JSON b and a bound on the
// number of lines indenting it gives.
func jsonShape(b []byte) (depth, lines int) {
	d, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			d++
			lines += 2
			depth = max(depth, d)
		case c == ']' || c == '}':
			d--
		case c == ',':
			lines++
		}
	}
	return depth, lines + 1
}

// printable turns bytes a program wrote into text a person can read
// safely: invalid UTF-8 and control characters other than newline and tab
// become U+FFFD, and so do the characters that reorder text (bidi
// controls), which could make a result look other than it is.
func printable(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		switch {
		case r == '\n' || r == '\t':
		case r == utf8.RuneError && n <= 1, unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r):
			r = utf8.RuneError
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
