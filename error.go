package trove

import (
	"errors"
	"fmt"
)

// Code classifies an error for callers: what went wrong, not where.
type Code string

// The error codes. Their mapping to HTTP statuses lives in package api.
const (
	EINVALID      Code = "invalid"      // the input is malformed or breaks a rule
	ENOTFOUND     Code = "not_found"    // no such thing (or not visible to the caller)
	ECONFLICT     Code = "conflict"     // the thing exists or its state forbids the action
	EFORBIDDEN    Code = "forbidden"    // a credential or presentation does not allow it
	ETOOLARGE     Code = "too_large"    // the input is over its size limit
	ETOOMANY      Code = "too_many"     // a rate or queue limit was hit; try later
	EUNAVAILABLE  Code = "unavailable"  // the vault cannot serve this now (fail closed)
	EINTERNAL     Code = "internal"     // a bug or an unexpected failure
	EUNAUTHORIZED Code = "unauthorized" // no or bad authentication
)

// Error is an error with a Code, a Reason (a stable, machine-readable
// refinement such as "bad_signature" or "runs_exhausted") and a Message
// safe to show to whoever caused it: never a secret or a personal datum.
type Error struct {
	Code    Code
	Reason  string
	Message string
	Err     error // the underlying cause, for logs; not shown to clients
}

// Error returns the message, with the cause when there is one.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = string(e.Code)
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error with the given code and formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) Code {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	}
	return EINTERNAL
}

// ErrorReason returns the reason of the first Error in err's chain.
func ErrorReason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// ErrorMessage returns the client-safe message of the first Error in err's
// chain, or a generic one for errors that carry no such message.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "internal error"
}
