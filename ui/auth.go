package ui

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/internal/safefile"
)

// SessionCookie names the session cookie.
const SessionCookie = "trove_session"

// Limits on what a browser may send.
const (
	maxFormBytes = 64 << 10 // an urlencoded form
	maxTokenLen  = 64       // a CSRF or login token, base64url of 32 bytes is 43
)

// session is a signed-in browser.
type session struct {
	csrf    string
	expires time.Time
}

// newToken returns 256 random bits, base64url without padding.
func (s *Server) newToken() (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(s.cfg.Rand, b[:]); err != nil {
		return "", fmt.Errorf("new token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func hashToken(t string) [32]byte { return sha256.Sum256([]byte(t)) }

// NewLoginLink mints a one-time login link, makes it the one LoginLink
// returns and, if configured, writes it to the link file.
func (s *Server) NewLoginLink() (string, error) {
	tok, err := s.newToken()
	if err != nil {
		return "", err
	}
	link := s.URL() + "/login/" + tok
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.LinkFile != "" {
		if err := safefile.Write(s.cfg.LinkFile, []byte(link+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("write login link file: %w", err)
		}
	}
	s.links[hashToken(tok)] = true
	s.link = link
	return link, nil
}

// useLoginToken burns tok and reports whether it was an unused login
// token.
func (s *Server) useLoginToken(tok string) bool {
	if len(tok) > maxTokenLen {
		return false
	}
	h := hashToken(tok)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.links[h] {
		return false
	}
	delete(s.links, h)
	return true
}

// login exchanges a one-time link for a session cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !s.useLoginToken(r.PathValue("token")) {
		s.renderStatus(w, r, http.StatusForbidden, "signin", pageData{Title: "Sign in", Data: signinData{Used: true}})
		return
	}
	// Whoever used this link, the file now holds a fresh one.
	if _, err := s.NewLoginLink(); err != nil {
		s.fail(w, r, err)
		return
	}
	// A login that cannot be logged does not happen: fail closed.
	if err := s.vault.RecordLogin(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	id, err := s.newToken()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	csrf, err := s.newToken()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.mu.Lock()
	now := s.cfg.Now()
	for k, ss := range s.sessions {
		if !now.Before(ss.expires) {
			delete(s.sessions, k)
		}
	}
	s.sessions[hashToken(id)] = &session{csrf: csrf, expires: now.Add(s.cfg.SessionTTL)}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: id, Path: "/", MaxAge: int(s.cfg.SessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.cfg.TLS != nil,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends the session.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ *session, _ *multipart.Reader) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		s.mu.Lock()
		delete(s.sessions, hashToken(c.Value))
		s.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.cfg.TLS != nil})
	s.renderStatus(w, r, http.StatusOK, "signin", pageData{Title: "Signed out", Data: signinData{SignedOut: true}})
}

// sessionOf returns the request's live session, or nil.
func (s *Server) sessionOf(r *http.Request) *session {
	c, err := r.Cookie(SessionCookie)
	if err != nil || len(c.Value) > maxTokenLen {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[hashToken(c.Value)]
	if ss == nil || !s.cfg.Now().Before(ss.expires) {
		return nil
	}
	return ss
}

// pageHandler serves a page to a signed-in owner.
type pageHandler func(w http.ResponseWriter, r *http.Request, ss *session)

// postHandler handles a state-changing request whose CSRF token has been
// checked. For a multipart form, mr is positioned after the token part.
type postHandler func(w http.ResponseWriter, r *http.Request, ss *session, mr *multipart.Reader)

// page wraps a GET handler: it requires a session.
func (s *Server) page(h pageHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss := s.sessionOf(r)
		if ss == nil {
			s.renderStatus(w, r, http.StatusUnauthorized, "signin", pageData{Title: "Sign in", Data: signinData{}})
			return
		}
		h(w, r, ss)
	}
}

// post wraps a state-changing handler: it requires a session, a request
// from the UI's own origin, and the session's CSRF token as the form field
// "csrf" (the first part of a multipart form).
func (s *Server) post(h postHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss := s.sessionOf(r)
		if ss == nil {
			s.renderStatus(w, r, http.StatusUnauthorized, "signin", pageData{Title: "Sign in", Data: signinData{}})
			return
		}
		if !s.sameOrigin(r) {
			s.fail(w, r, &trove.Error{Code: trove.EFORBIDDEN, Reason: "cross_origin", Message: "This form was sent from another site, so it was ignored."})
			return
		}
		mr, err := s.checkCSRF(w, r, ss)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		h(w, r, ss, mr)
	}
}

var errCSRF = &trove.Error{Code: trove.EFORBIDDEN, Reason: "csrf",
	Message: "This form is out of date or did not come from this page. Go back, reload the page and try again."}

// checkCSRF reads the form's CSRF token and compares it with the
// session's in constant time.
func (s *Server) checkCSRF(w http.ResponseWriter, r *http.Request, ss *session) (*multipart.Reader, error) {
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var got string
	var mr *multipart.Reader
	switch ct {
	case "multipart/form-data":
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload+maxFormBytes)
		if params["boundary"] == "" {
			return nil, errCSRF
		}
		mr = multipart.NewReader(r.Body, params["boundary"])
		p, err := mr.NextPart()
		if err != nil || p.FormName() != "csrf" {
			return nil, errCSRF
		}
		b, err := io.ReadAll(io.LimitReader(p, maxTokenLen+1))
		if err != nil {
			return nil, errCSRF
		}
		got = string(b)
	case "application/x-www-form-urlencoded":
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			return nil, trove.Errorf(trove.ETOOLARGE, "the form is too large")
		}
		got = r.PostForm.Get("csrf")
	default:
		return nil, errCSRF
	}
	if len(got) == 0 || subtle.ConstantTimeCompare([]byte(got), []byte(ss.csrf)) != 1 {
		return nil, errCSRF
	}
	return mr, nil
}

// sameOrigin reports whether a state-changing request comes from the UI's
// own pages: Sec-Fetch-Site, when the browser sends it, must say
// same-origin, and Origin, when sent, must be the UI's origin.
func (s *Server) sameOrigin(r *http.Request) bool {
	if sfs := r.Header.Get("Sec-Fetch-Site"); sfs != "" && sfs != "same-origin" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		scheme := "http"
		if s.cfg.TLS != nil {
			scheme = "https"
		}
		return o == scheme+"://"+r.Host
	}
	return true
}

// hostAllowed defends against DNS rebinding: unless remote access was
// allowed, the Host header must name a loopback address.
func (s *Server) hostAllowed(r *http.Request) bool {
	if s.cfg.AllowRemote {
		return true
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if len(host) > 2 && host[0] == '[' {
		host = host[1 : len(host)-1]
	}
	return isLoopbackHost(host)
}
