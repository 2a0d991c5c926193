package vault

import (
	"context"
	"fmt"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/ledger"
)

// MaxLogPage bounds how many log entries one LogEntries call returns.
const MaxLogPage = 500

// LogFilter selects log entries. Empty fields select everything.
type LogFilter struct {
	Type      ledger.EventType // one event type
	Requester string           // entries whose subject is this DID
	Dataset   string           // entries about this dataset, directly or through a request or consent for it
	Before    uint64           // only entries with an index below this; 0 means no bound
	Limit     int              // at most this many, newest first; 0 or more than MaxLogPage means MaxLogPage
}

// LoggedEntry is a log entry with its place in the log and its bytes as
// hashed.
type LoggedEntry struct {
	Index uint64
	Entry ledger.Entry
	Raw   []byte
}

// LogEntries returns the entries that f selects, newest first.
func (v *Vault) LogEntries(ctx context.Context, f LogFilter) ([]LoggedEntry, error) {
	if f.Type != "" && !f.Type.Valid() {
		return nil, trove.Errorf(trove.EINVALID, "unknown event type %q", f.Type)
	}
	if f.Limit <= 0 || f.Limit > MaxLogPage {
		f.Limit = MaxLogPage
	}
	before := int64(-1)
	if f.Before > 0 {
		before = int64(f.Before)
	}
	rows, err := v.db.QueryContext(ctx, `SELECT idx, entry FROM log_entries
		WHERE (? < 0 OR idx < ?)
		AND (? = '' OR json_extract(CAST(entry AS TEXT), '$.type') = ?)
		AND (? = '' OR json_extract(CAST(entry AS TEXT), '$.subject') = ?)
		AND (? = '' OR json_extract(CAST(entry AS TEXT), '$.fields.dataset') = ?
			OR json_extract(CAST(entry AS TEXT), '$.fields.request_id') IN (SELECT id FROM consent_requests WHERE dataset = ?)
			OR json_extract(CAST(entry AS TEXT), '$.fields.consent_id') IN (SELECT id FROM consents WHERE dataset = ?)
			OR json_extract(CAST(entry AS TEXT), '$.fields.consent') IN (SELECT id FROM consents WHERE dataset = ?)
			OR json_extract(CAST(entry AS TEXT), '$.fields.job_id') IN
				(SELECT jobs.id FROM jobs JOIN consents ON consents.id = jobs.consent_id WHERE consents.dataset = ?))
		ORDER BY idx DESC LIMIT ?`,
		before, before, string(f.Type), string(f.Type), f.Requester, f.Requester,
		f.Dataset, f.Dataset, f.Dataset, f.Dataset, f.Dataset, f.Dataset, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list log entries: %w", err)
	}
	defer rows.Close()
	var out []LoggedEntry
	for rows.Next() {
		var le LoggedEntry
		if err := rows.Scan(&le.Index, &le.Raw); err != nil {
			return nil, fmt.Errorf("list log entries: %w", err)
		}
		e, err := ledger.ParseEntry(le.Raw)
		if err != nil {
			return nil, fmt.Errorf("log entry %d: %w", le.Index, err)
		}
		le.Entry = *e
		out = append(out, le)
	}
	return out, rows.Err()
}

// RecordLogin logs that the owner signed in to the web UI.
func (v *Vault) RecordLogin(ctx context.Context) error {
	return v.logOnly(ctx, ledger.Entry{
		Type: ledger.OwnerLogin, Time: v.now(), Subject: v.DID(),
		Fields: map[string]string{"via": "web"},
	})
}
