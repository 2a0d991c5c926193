package ui

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/trove-project/trove/vault"
)

// A held result is untrusted: whatever a visiting algorithm wrote is shown
// as text on the review and confirmation pages, never as markup.
func TestHeldResultIsShownAsText(t *testing.T) {
	p, err := loadPages()
	if err != nil {
		t.Fatal(err)
	}
	hostile := []byte(`{"note":"</pre><script>alert(1)</script><img src=x onerror=alert(2)>","rtl":"a` + "\u202e" + `b","bell":"` + "\x07" + `"}`)
	d := &resultData{J: JobView{Job: vault.Job{ID: "job_1", Requester: "did:key:z6Mk", Algorithm: "builtin:stats@1"}, Dataset: "d"},
		Text: resultText(hostile), Size: len(hostile), Decision: "release"}
	for _, name := range []string{"result", "decide"} {
		var buf bytes.Buffer
		if err := p.sets[name].ExecuteTemplate(&buf, "layout", pageData{CSRF: "t", Data: d}); err != nil {
			t.Fatal(err)
		}
		page := buf.String()
		for _, bad := range []string{"<script>alert", "<img src=x", "</pre><script", "\u202e", "\x07"} {
			if strings.Contains(page, bad) {
				t.Errorf("%s page holds %q from the result", name, bad)
			}
		}
		if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s page does not show the result's text escaped", name)
		}
	}
}

func TestResultText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a":[1,2]}`, "{\n  \"a\": [\n    1,\n    2\n  ]\n}"},
		{`not json`, "not json"},
		{"\xff\xfe", "\uFFFD\uFFFD"},
		{"line\nnext\ttab\r", "line\nnext\ttab\uFFFD"},
		{strings.Repeat("[", 40) + strings.Repeat("]", 40), strings.Repeat("[", 40) + strings.Repeat("]", 40)}, // too deep to indent
	} {
		if got := resultText([]byte(tc.in)); got != tc.want {
			t.Errorf("resultText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzResultText(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":"c\"]"}]}`))
	f.Add([]byte("\x00\u202e<script>"))
	f.Add([]byte(strings.Repeat("[", 33) + strings.Repeat("]", 33)))
	f.Fuzz(func(t *testing.T, b []byte) {
		got := resultText(b)
		if !utf8.ValidString(got) {
			t.Fatalf("not valid UTF-8: %q", got)
		}
		if len(got) > maxShownResult*3+maxShownResult*(2*maxShownDepth+1) {
			t.Fatalf("%d bytes shown", len(got))
		}
		for _, r := range got {
			if r != '\n' && r != '\t' && (r < 0x20 || (r >= 0x7f && r < 0xa0) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)) {
				t.Fatalf("control character %U shown", r)
			}
		}
		if json.Valid(b) && printable(b) == string(b) && !json.Valid([]byte(got)) {
			t.Fatalf("valid JSON %q shown as invalid %q", b, got)
		}
	})
}

func FuzzPrivacyForm(f *testing.F) {
	f.Add("policy=dp&job_epsilon=0.5&job_delta=&budget_epsilon=2&budget_delta=1e-6")
	f.Add("policy=review&budget_epsilon=NaN")
	f.Add("policy=release&budget_epsilon=1e400&budget_delta=-0")
	f.Add("policy=dp&job_epsilon=0x1p-2")
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		_, ps, err := parsePrivacyForm(form)
		if err != nil {
			return
		}
		// What the form accepts, the vault accepts.
		if verr := ps.Minimum.Validate(); verr != nil {
			t.Fatalf("accepted %q with an invalid policy: %v", body, verr)
		}
		if !(ps.BudgetEpsilon >= 0 && ps.BudgetEpsilon <= vault.MaxBudgetEpsilon && ps.BudgetDelta >= 0 && ps.BudgetDelta <= vault.MaxBudgetDelta) {
			t.Fatalf("accepted %q with a budget out of range: %+v", body, ps)
		}
	})
}
