package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/trove-project/trove"
)

// ProblemTypeBase prefixes the stable `type` URI of every problem; the
// last segment is the trove error code.
const ProblemTypeBase = "https://trove.dev/problems/"

// Problem is an RFC 9457 problem details document, with trove's reason.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// statusOf maps an error code to its HTTP status: the one place it is done.
func statusOf(code trove.Code) int {
	switch code {
	case trove.EINVALID:
		return http.StatusBadRequest
	case trove.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case trove.EFORBIDDEN:
		return http.StatusForbidden
	case trove.ENOTFOUND:
		return http.StatusNotFound
	case trove.ECONFLICT:
		return http.StatusConflict
	case trove.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case trove.ETOOMANY:
		return http.StatusTooManyRequests
	case trove.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// RetryAfterSeconds is what a busy vault tells a client to wait before it
// sends a job again (the Retry-After header of a 429): about the time of a
// typical job, so a retry usually finds a free slot.
const RetryAfterSeconds = 2

// setProblemHeaders sets the headers a problem with the given code carries
// besides its body: Retry-After on 429, unless the handler set its own.
func setProblemHeaders(h http.Header, code trove.Code) {
	if code == trove.ETOOMANY && h.Get("Retry-After") == "" {
		h.Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
	}
}

// codeOf is the inverse of statusOf for problems without a trove type.
func codeOf(status int) trove.Code {
	for _, c := range []trove.Code{trove.EINVALID, trove.EUNAUTHORIZED, trove.EFORBIDDEN, trove.ENOTFOUND,
		trove.ECONFLICT, trove.ETOOLARGE, trove.ETOOMANY, trove.EUNAVAILABLE} {
		if statusOf(c) == status {
			return c
		}
	}
	return trove.EINTERNAL
}

// problemFor turns an error into the problem a client sees: internal
// errors say nothing about their cause.
func problemFor(err error) Problem {
	code := trove.ErrorCode(err)
	status := statusOf(code)
	p := Problem{Type: ProblemTypeBase + string(code), Title: http.StatusText(status), Status: status, Reason: trove.ErrorReason(err)}
	if code != trove.EINTERNAL {
		p.Detail = trove.ErrorMessage(err)
	}
	return p
}

// maxProblemSize bounds an error body a client reads.
const maxProblemSize = 16 << 10

// errorFromResponse turns an error response into a *trove.Error.
func errorFromResponse(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxProblemSize))
	var p Problem
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") && json.Unmarshal(body, &p) == nil {
		code := trove.Code(strings.TrimPrefix(p.Type, ProblemTypeBase))
		if !strings.HasPrefix(p.Type, ProblemTypeBase) || !knownCode(code) {
			code = codeOf(resp.StatusCode)
		}
		msg := p.Detail
		if msg == "" {
			msg = p.Title
		}
		return &trove.Error{Code: code, Reason: p.Reason, Message: msg}
	}
	return &trove.Error{Code: codeOf(resp.StatusCode), Message: fmt.Sprintf("the vault answered %s", resp.Status)}
}

// knownCode reports whether c is one of trove's error codes.
func knownCode(c trove.Code) bool {
	return c == trove.EINTERNAL || codeOf(statusOf(c)) == c
}

// IsProblem reports whether err came from a problem with the given reason.
func IsProblem(err error, reason string) bool {
	var e *trove.Error
	return errors.As(err, &e) && e.Reason == reason
}
