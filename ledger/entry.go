package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// EventType names what a log entry records.
type EventType string

// The events the vault logs.
const (
	RequestReceived  EventType = "request.received"  // a consent request arrived
	RequestApproved  EventType = "request.approved"  // the owner approved it; a credential was issued
	RequestDenied    EventType = "request.denied"    // the owner denied it
	JobAccepted      EventType = "job.accepted"      // a job's presentation verified; it may run
	JobRejected      EventType = "job.rejected"      // a job was refused, with its reason
	RunFinished      EventType = "run.finished"      // a job ran, or failed
	ResultReleased   EventType = "result.released"   // a result was released; the entry a receipt points to
	ClaimCreated     EventType = "claim.created"     // a compensation claim was created
	DatasetImported  EventType = "dataset.imported"  // the owner imported a dataset
	DatasetDeleted   EventType = "dataset.deleted"   // the owner deleted a dataset
	OwnerLogin       EventType = "owner.login"       // the owner signed in to the web UI
	ResultHeld       EventType = "result.held"       // a result is held for the owner's review
	ResultWithheld   EventType = "result.withheld"   // the owner withheld a held result
	PrivacySet       EventType = "privacy.set"       // the owner set a dataset's output policy and privacy budget
	ConsentRevoked   EventType = "consent.revoked"   // the owner revoked an issued consent
	RequestCountered EventType = "request.countered" // the owner answered a request with narrower terms
	CounterAccepted  EventType = "counter.accepted"  // the requester accepted a counter-offer; a credential was issued
	CounterDeclined  EventType = "counter.declined"  // the requester declined a counter-offer
	PolicySet        EventType = "policy.set"        // the owner replaced the standing rules
)

// The events of claims being settled.
const (
	ClaimAcknowledged EventType = "claim.acknowledged" // the requester acknowledged a claim, signed
	ClaimDisputed     EventType = "claim.disputed"     // the requester disputed a claim, signed, with a reason
	ClaimSettled      EventType = "claim.settled"      // the requester settled a share-rule claim with a Contribution credential
)

// DIDRotated records an owner key rotation: the vault's DID changed from
// the entry's "old" field to its "new" field, by the rotation statement
// whose sha256 is "statement_sha256". It is the last entry the old key
// signs a checkpoint for.
const DIDRotated EventType = "did.rotated"

// Valid reports whether t is one of the event types above.
func (t EventType) Valid() bool {
	switch t {
	case RequestReceived, RequestApproved, RequestDenied, JobAccepted, JobRejected,
		RunFinished, ResultReleased, ClaimCreated, DatasetImported, DatasetDeleted, OwnerLogin,
		ResultHeld, ResultWithheld, PrivacySet,
		ConsentRevoked, RequestCountered, CounterAccepted, CounterDeclined, PolicySet:
		return true
	case ClaimAcknowledged, ClaimDisputed, ClaimSettled, DIDRotated:
		return true
	}
	return false
}

// MaxEntrySize bounds an encoded log entry, in bytes.
const MaxEntrySize = 16 << 10

// Entry is one event in the log. It carries identifiers and digests,
// never personal data: the log is shown to anyone who asks for a proof.
type Entry struct {
	// Type says what happened.
	Type EventType
	// Time is when, in UTC; it is encoded to the second.
	Time time.Time
	// Subject is the DID acting or affected, if one is known (a job
	// refused before its presentation parsed has none).
	Subject string
	// Fields holds the event's identifiers and digests (job_id,
	// consent_id, output_sha256, reason, …).
	Fields map[string]string
}

// entryJSON is an Entry on the wire. Its field order, and encoding/json's
// sorted map keys, make the encoding deterministic.
type entryJSON struct {
	Type    EventType         `json:"type"`
	Time    string            `json:"time"`
	Subject string            `json:"subject,omitempty"`
	Fields  map[string]string `json:"fields,omitempty"`
}

var entryKeys = []string{"type", "time", "subject", "fields"}

// Marshal returns the entry's canonical JSON encoding, the bytes the log
// hashes. Time is truncated to the second and written in UTC (RFC 3339).
func (e Entry) Marshal() ([]byte, error) {
	if !e.Type.Valid() {
		return nil, fmt.Errorf("marshal entry: unknown event type %q: %w", short(string(e.Type)), ErrMalformed)
	}
	t := e.Time.UTC().Truncate(time.Second)
	if e.Time.IsZero() || t.Year() < 1 || t.Year() > 9999 {
		return nil, fmt.Errorf("marshal entry: time %v not representable: %w", e.Time, ErrMalformed)
	}
	if !utf8.ValidString(e.Subject) {
		return nil, fmt.Errorf("marshal entry: subject is not UTF-8: %w", ErrMalformed)
	}
	for k, v := range e.Fields {
		if k == "" || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("marshal entry: field %q: empty name or not UTF-8: %w", short(k), ErrMalformed)
		}
	}
	b, err := json.Marshal(entryJSON{Type: e.Type, Time: t.Format(time.RFC3339), Subject: e.Subject, Fields: e.Fields})
	if err != nil {
		return nil, fmt.Errorf("marshal entry: %w", err)
	}
	if len(b) > MaxEntrySize {
		return nil, fmt.Errorf("marshal entry: %d bytes, limit %d: %w", len(b), MaxEntrySize, ErrTooLarge)
	}
	return b, nil
}

// ParseEntry parses an entry as Marshal encodes it. Anything else — over
// MaxEntrySize, unknown or duplicate fields, an unknown event type, a time
// not in UTC to the second, or any encoding other than the canonical one —
// is refused with ErrTooLarge or ErrMalformed.
func ParseEntry(b []byte) (*Entry, error) {
	if len(b) > MaxEntrySize {
		return nil, fmt.Errorf("parse entry: %d bytes, limit %d: %w", len(b), MaxEntrySize, ErrTooLarge)
	}
	var w entryJSON
	if err := decodeStrict(b, &w, entryKeys...); err != nil {
		return nil, fmt.Errorf("parse entry: %w: %w", ErrMalformed, err)
	}
	if !w.Type.Valid() {
		return nil, fmt.Errorf("parse entry: unknown event type %q: %w", short(string(w.Type)), ErrMalformed)
	}
	t, err := time.Parse(time.RFC3339, w.Time)
	if err != nil || t.UTC().Format(time.RFC3339) != w.Time {
		return nil, fmt.Errorf("parse entry: time %q is not RFC 3339 UTC to the second: %w", short(w.Time), ErrMalformed)
	}
	e := &Entry{Type: w.Type, Time: t.UTC(), Subject: w.Subject, Fields: w.Fields}
	canon, err := e.Marshal()
	if err != nil {
		return nil, fmt.Errorf("parse entry: %w", err)
	}
	if !bytes.Equal(canon, b) {
		return nil, fmt.Errorf("parse entry: not in canonical form: %w", ErrMalformed)
	}
	return e, nil
}
