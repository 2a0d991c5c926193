package ui

import (
	"bytes"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"strings"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/vault"
)

// contentSecurityPolicy allows only the UI's own files: no inline script
// or style, nothing from elsewhere, no framing, forms only to itself.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// handler returns the UI's own mux behind its security headers.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /login/{token}", s.login)
	mux.HandleFunc("POST /logout", s.post(s.logout))
	mux.HandleFunc("GET /{$}", s.page(s.dashboard))
	mux.HandleFunc("GET /requests", s.page(s.requests))
	mux.HandleFunc("GET /requests/{id}", s.page(s.request))
	mux.HandleFunc("POST /requests/{id}/approve", s.post(s.approve))
	mux.HandleFunc("POST /requests/{id}/deny", s.post(s.deny))
	mux.HandleFunc("POST /requests/{id}/counter", s.post(s.counter))
	mux.HandleFunc("GET /consents", s.page(s.consents))
	mux.HandleFunc("GET /consents/{id}/revoke", s.page(s.confirmRevoke))
	mux.HandleFunc("POST /consents/{id}/revoke", s.post(s.revoke))
	mux.HandleFunc("GET /rules", s.page(s.rules))
	mux.HandleFunc("POST /rules", s.post(s.setRules))
	mux.HandleFunc("GET /activity", s.page(s.activity))
	mux.HandleFunc("GET /activity/{index}", s.page(s.activityEntry))
	mux.HandleFunc("GET /earnings", s.page(s.earnings))
	mux.HandleFunc("GET /datasets", s.page(s.datasets))
	mux.HandleFunc("POST /datasets", s.post(s.upload))
	mux.HandleFunc("GET /datasets/{name}/delete", s.page(s.confirmDelete))
	mux.HandleFunc("POST /datasets/{name}/delete", s.post(s.deleteDataset))
	mux.HandleFunc("GET /datasets/{name}/privacy", s.page(s.privacyForm))
	mux.HandleFunc("POST /datasets/{name}/privacy", s.post(s.setPrivacy))
	mux.HandleFunc("GET /results", s.page(s.results))
	mux.HandleFunc("GET /results/{id}", s.page(s.result))
	mux.HandleFunc("GET /results/{id}/{decision}", s.page(s.confirmDecision))
	mux.HandleFunc("POST /results/{id}/{decision}", s.post(s.decide))
	mux.HandleFunc("GET /runs", s.page(s.runs))
	mux.HandleFunc("GET /glossary", s.page(s.glossary))
	if s.cfg.Metrics != nil {
		mux.Handle("GET /metrics", s.cfg.Metrics)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, trove.Errorf(trove.ENOTFOUND, "There is no page here."))
	})
	return s.secure(mux)
}

// secure sets the security headers on every response and refuses a Host
// that is not the UI's.
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		if !s.hostAllowed(r) {
			http.Error(w, "misdirected request", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// pageData is what every page template gets.
type pageData struct {
	Title   string
	Nav     string // the navigation entry to mark as current
	CSRF    string
	DID     string
	Notice  string // a confirmation after an action
	Pending int    // pending requests, for the navigation badge
	Held    int    // results held for review, for the navigation badge
	Data    any
}

// signinData tells the sign-in page why it is shown.
type signinData struct {
	Used      bool // a login link was used twice or is unknown
	SignedOut bool
}

// errorData is the error page's content.
type errorData struct {
	Status  int
	Message string
}

// pages holds one template set per page, each with the shared layout.
type pages struct{ sets map[string]*template.Template }

func loadPages() (*pages, error) {
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{sets: map[string]*template.Template{}}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(assets, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		p.sets[base] = t
	}
	return p, nil
}

// render writes a page for a signed-in owner with status 200.
func (s *Server) render(w http.ResponseWriter, r *http.Request, ss *session, name string, d pageData) {
	s.renderWith(w, r, ss, http.StatusOK, name, d)
}

// renderWith writes a page for a signed-in owner with the given status.
func (s *Server) renderWith(w http.ResponseWriter, r *http.Request, ss *session, status int, name string, d pageData) {
	d.CSRF = ss.csrf
	d.DID = s.vault.DID()
	if rs, err := s.vault.ConsentRequests(r.Context(), vault.Pending); err == nil {
		d.Pending = len(waiting(rs))
	}
	if js, err := s.vault.Jobs(r.Context()); err == nil {
		d.Held = len(heldJobs(js))
	}
	s.renderStatus(w, r, status, name, d)
}

// renderStatus executes a page into a buffer first, so that a template
// failure never sends half a page.
func (s *Server) renderStatus(w http.ResponseWriter, _ *http.Request, status int, name string, d pageData) {
	t := s.pages.sets[name]
	var buf bytes.Buffer
	if t == nil {
		s.cfg.Logger.Error("ui: no such page template", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout", d); err != nil {
		s.cfg.Logger.Error("ui: render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fail shows an error page with the status the API would use. Only a
// trove.Error's message is shown; anything else is logged and shown as an
// internal error.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := trove.ErrorCode(err)
	status := api.StatusOf(code)
	msg := "Something went wrong inside the vault. Nothing was changed; try again."
	var te *trove.Error
	if code != trove.EINTERNAL && errors.As(err, &te) && te.Message != "" {
		msg = te.Message
	} else {
		s.cfg.Logger.Error("ui request failed", "path", r.URL.Path, "err", err)
	}
	d := pageData{Title: "Something needs attention", Data: errorData{Status: status, Message: msg}}
	if ss := s.sessionOf(r); ss != nil {
		d.CSRF, d.DID = ss.csrf, s.vault.DID()
	}
	s.renderStatus(w, r, status, "error", d)
}
