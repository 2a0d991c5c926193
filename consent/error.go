package consent

import "errors"

// Code is a stable, machine-readable reason for refusing a token. The vault
// logs it as the rejection reason. A Code is itself an error, so that
// errors.Is(err, ErrExpired) tells whether err is a refusal for that reason.
type Code string

// Error returns the code itself.
func (c Code) Error() string { return string(c) }

// The refusal codes.
const (
	// ErrBadToken: the token is malformed or breaks a rule of its format.
	ErrBadToken Code = "bad_token"
	// ErrBadSignature: the signature does not verify with the issuer's key.
	ErrBadSignature Code = "bad_signature"
	// ErrUnsupportedAlg: the header names an algorithm other than EdDSA.
	ErrUnsupportedAlg Code = "unsupported_alg"
	// ErrIssuerMismatch: the kid, or an issuer or holder named inside the
	// token, is not the DID in iss.
	ErrIssuerMismatch Code = "issuer_mismatch"
	// ErrExpired: the token's exp is past.
	ErrExpired Code = "expired"
	// ErrNotYetValid: the token's nbf or iat is in the future.
	ErrNotYetValid Code = "not_yet_valid"
	// ErrWrongAudience: the token is addressed to another vault.
	ErrWrongAudience Code = "wrong_audience"
	// ErrHolderNotSubject: a presentation's holder is not the subject of
	// the credential it presents.
	ErrHolderNotSubject Code = "holder_not_subject"
	// ErrInvalidRequest: a consent request (or the terms given to Issue)
	// has a field that breaks its rule; Error.Field names it.
	ErrInvalidRequest Code = "invalid_request"
	// ErrTooLarge: the token is over MaxTokenSize bytes.
	ErrTooLarge Code = "too_large"
	// ErrRevoked: the credential's bit is set in its status list.
	ErrRevoked Code = "revoked"
	// ErrStatusUnknown: the status list given cannot tell whether the
	// credential is revoked (another issuer's, another list, too short).
	ErrStatusUnknown Code = "status_unknown"
)

// Error is a refusal: a Code to branch on and log, the Field at fault when
// there is one, a message safe to show to whoever sent the token (it names
// fields and rules, never DIDs, values or secrets) and, for logs, the
// underlying cause.
type Error struct {
	Code  Code
	Field string
	Msg   string
	Err   error
}

// Error returns "consent: code: field: message".
func (e *Error) Error() string {
	s := "consent: " + string(e.Code)
	if e.Field != "" {
		s += ": " + e.Field
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is e's Code, so errors.Is(err, ErrExpired)
// works through any wrapping.
func (e *Error) Is(target error) bool {
	c, ok := target.(Code)
	return ok && c == e.Code
}

// CodeOf returns the Code of the first *Error in err's chain, or "" when
// there is none.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func refuse(code Code, msg string) *Error { return &Error{Code: code, Msg: msg} }

func refuseField(code Code, field, msg string) *Error {
	return &Error{Code: code, Field: field, Msg: msg}
}
