package ledger

import (
	"errors"
	"fmt"
)

// Sentinel errors, wrapped with context by the functions of this package.
// Match them with errors.Is.
var (
	// ErrMalformed reports input that does not parse, or that parses but is
	// not in its one canonical form.
	ErrMalformed = errors.New("malformed")
	// ErrTooLarge reports input over its size limit; nothing of it was parsed.
	ErrTooLarge = errors.New("too large")
	// ErrBadSignature reports a signature that does not verify, one by
	// another key, or a signing algorithm trove does not accept.
	ErrBadSignature = errors.New("bad signature")
	// ErrWrongVault reports signed material that names a vault other than
	// the one the caller expected (checkpoint origin, receipt issuer or
	// key id).
	ErrWrongVault = errors.New("wrong vault")
	// ErrMismatch reports parts of a receipt that do not agree with one
	// another: the entry does not hash to the signed leaf hash, or says
	// something other than the signed claims.
	ErrMismatch = errors.New("receipt parts do not match")
	// ErrNotIncluded reports an inclusion proof that does not prove its
	// leaf is in the tree it names.
	ErrNotIncluded = errors.New("not included in the log")
	// ErrInconsistent reports a consistency proof that does not prove the
	// larger tree extends the smaller one: the log was rewritten or forked.
	ErrInconsistent = errors.New("log is inconsistent")
	// ErrOutOfRange reports an index or tree size beyond what exists.
	ErrOutOfRange = errors.New("out of range")
)

// requireAll checks that every value of the name, value pairs is
// non-empty, reporting the first that is empty.
func requireAll(what string, pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return fmt.Errorf("%s: %s is empty: %w", what, pairs[i], ErrMalformed)
		}
	}
	return nil
}
