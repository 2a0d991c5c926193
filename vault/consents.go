package vault

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/trove-project/trove"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/dataset"
	"github.com/trove-project/trove/ledger"
)

// Request states.
const (
	Pending  = "pending"
	Approved = "approved"
	Denied   = "denied"
)

// ConsentRequest is a requester's signed request as the vault keeps it.
type ConsentRequest struct {
	consent.Request
	State      string     `json:"state"`
	ConsentID  string     `json:"consent_id,omitempty"`
	Credential string     `json:"credential,omitempty"` // the Consent VC-JWT, once approved
	DecidedAt  *time.Time `json:"decided_at,omitempty"`
	DecidedBy  string     `json:"decided_by,omitempty"` // "owner", "requester" (who declined a counter-offer), or "rule:<id>"
	// CounterOffer is the owner's signed counter-offer (consent.Counter)
	// while the request is Countered.
	CounterOffer string `json:"counter_offer,omitempty"`
}

// Consent is an issued consent and how much of it is used.
type Consent struct {
	ID            string               `json:"id"`
	RequestID     string               `json:"request_id"`
	Requester     string               `json:"requester"`
	Dataset       string               `json:"dataset"`
	DatasetDigest string               `json:"dataset_digest"`
	Algorithm     string               `json:"algorithm"`
	Columns       []string             `json:"columns"`
	Purpose       string               `json:"purpose"`
	PurposeCode   string               `json:"purpose_code"`
	MaxRuns       int                  `json:"max_runs"`
	RunsUsed      int                  `json:"runs_used"`
	Output        consent.OutputPolicy `json:"output"`
	Price         consent.Money        `json:"price"`
	Per           string               `json:"per"`
	Share         string               `json:"share,omitempty"` // the share rule: "" or consent.ShareContribution
	NotBefore     time.Time            `json:"not_before"`
	ExpiresAt     time.Time            `json:"expires_at"`
	Credential    string               `json:"credential"`
	StatusIndex   int                  `json:"status_index"`         // its bit in status list StatusListID
	RevokedAt     *time.Time           `json:"revoked_at,omitempty"` // set once the owner revoked it
}

// SubmitRequest verifies a signed consent request addressed to this vault
// and stores it as pending; the standing rules (SetPolicy) may approve or
// deny it at once.
func (v *Vault) SubmitRequest(ctx context.Context, token string) (*ConsentRequest, error) {
	now := v.now()
	req, err := consent.VerifyRequest(token, v.DID(), now)
	if err != nil {
		return nil, &trove.Error{Code: trove.EINVALID, Reason: consentReason(err), Message: err.Error(), Err: err}
	}
	ds, err := v.Dataset(ctx, req.Dataset)
	if err != nil {
		return nil, err
	}
	if err := checkColumnsExist(ds, req.Columns); err != nil {
		return nil, err
	}
	cols, output, err := encodeTerms(req.Columns, req.Output)
	if err != nil {
		return nil, err
	}
	err = v.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM consent_requests WHERE id = ?`, req.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return trove.Errorf(trove.ECONFLICT, "a request with id %q exists", req.ID)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO consent_requests
			(id, requester, dataset, algorithm, purpose, max_runs, amount, currency, expires_at, token, state, created_at,
			 columns, purpose_code, output, per, share)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)`,
			req.ID, req.Requester, req.Dataset, req.Algorithm, req.Purpose, req.MaxRuns,
			req.Price.Amount, req.Price.Currency, formatTime(req.ExpiresAt), token, formatTime(now),
			cols, req.PurposeCode, output, req.Per, req.Share)
		if err != nil {
			return err
		}
		_, err = v.appendLog(ctx, tx, ledger.Entry{
			Type: ledger.RequestReceived, Time: now, Subject: req.Requester,
			Fields: map[string]string{"request_id": req.ID, "dataset": req.Dataset, "algorithm": req.Algorithm,
				"purpose_code": req.PurposeCode, "output": req.Output.Policy},
		})
		if err != nil {
			return err
		}
		return v.applyPolicy(ctx, tx, &ConsentRequest{Request: *req, State: Pending}, now)
	})
	if err != nil {
		return nil, err
	}
	return v.ConsentRequest(ctx, req.ID)
}

// ConsentRequests lists requests, newest first; state "" lists all.
func (v *Vault) ConsentRequests(ctx context.Context, state string) ([]ConsentRequest, error) {
	rows, err := v.db.QueryContext(ctx, `SELECT `+requestColumns+` FROM consent_requests WHERE ? = '' OR state = ? ORDER BY created_at DESC, id`, state, state)
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	defer rows.Close()
	var out []ConsentRequest
	for rows.Next() {
		r, err := v.scanRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("list requests: %w", err)
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// ConsentRequest returns the request with the given id.
func (v *Vault) ConsentRequest(ctx context.Context, id string) (*ConsentRequest, error) {
	return v.consentRequest(ctx, v.db, id)
}

func (v *Vault) consentRequest(ctx context.Context, q queryer, id string) (*ConsentRequest, error) {
	r, err := v.scanRequest(q.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM consent_requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trove.Errorf(trove.ENOTFOUND, "no consent request %q", id)
	} else if err != nil {
		return nil, fmt.Errorf("consent request %s: %w", id, err)
	}
	return r, nil
}

func (v *Vault) scanRequest(s scanner) (*ConsentRequest, error) {
	var r ConsentRequest
	var expires, created string
	var consentID, decided, credential, counter sql.NullString
	var cols, output string
	if err := s.Scan(&r.ID, &r.Requester, &r.Dataset, &r.Algorithm, &r.Purpose, &r.MaxRuns, &r.Price.Amount, &r.Price.Currency,
		&expires, &created, &r.State, &consentID, &decided, &credential, &cols, &r.PurposeCode, &output, &r.Per, &r.DecidedBy, &counter, &r.Share); err != nil {
		return nil, err
	}
	if counter.Valid && r.State == Pending {
		r.State, r.CounterOffer = Countered, counter.String
	}
	if err := decodeTerms(cols, output, &r.Columns, &r.Output); err != nil {
		return nil, err
	}
	r.Vault = v.DID()
	r.ConsentID, r.Credential = consentID.String, credential.String
	var err error
	if r.ExpiresAt, err = parseTime(expires); err != nil {
		return nil, err
	}
	if r.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if decided.Valid {
		t, err := parseTime(decided.String)
		if err != nil {
			return nil, err
		}
		r.DecidedAt = &t
	}
	return &r, nil
}

const requestColumns = `id, requester, dataset, algorithm, purpose, max_runs, amount, currency, expires_at, created_at, state, consent_id, decided_at,
	(SELECT credential FROM consents WHERE consents.request_id = consent_requests.id), columns, purpose_code, output, per, decided_by,
	(SELECT token FROM counter_offers WHERE counter_offers.request_id = consent_requests.id AND state = 'open'), share`

// pendingRequest returns a request that waits for a decision.
func (v *Vault) pendingRequest(ctx context.Context, tx *sql.Tx, id string) (*ConsentRequest, error) {
	r, err := v.consentRequest(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if r.State != Pending {
		return nil, trove.Errorf(trove.ECONFLICT, "request %s is %s, not pending", id, r.State)
	}
	return r, nil
}

// Approve issues the Consent credential for a pending request: signed by
// the owner, its subject the requester, its terms those requested.
func (v *Vault) Approve(ctx context.Context, id string) (*ConsentRequest, error) {
	now := v.now()
	err := v.write(ctx, func(tx *sql.Tx) error {
		r, err := v.pendingRequest(ctx, tx, id)
		if err != nil {
			return err
		}
		terms, err := v.requestTerms(ctx, tx, r)
		if err != nil {
			return err
		}
		return v.approve(ctx, tx, r, terms, now, byOwner)
	})
	if err != nil {
		return nil, err
	}
	return v.ConsentRequest(ctx, id)
}

// decider is who decided a request, as recorded with it and logged.
type decider struct {
	by     string            // "owner" or "rule:<id>"
	fields map[string]string // logged with the decision
}

var byOwner = decider{by: "owner", fields: map[string]string{"by": "owner"}}

// byRule is a decision of a standing rule: logged with the rule's id and
// the hash of the rule set it belongs to.
func byRule(d consent.Decision) decider {
	return decider{by: "rule:" + d.RuleID, fields: map[string]string{"by": "rule", "rule_id": d.RuleID, "rule_set": d.RuleSet}}
}

func (d decider) logFields(base map[string]string) map[string]string {
	for k, v := range d.fields {
		base[k] = v
	}
	return base
}

// approve issues a credential for r under terms and marks r approved.
func (v *Vault) approve(ctx context.Context, tx *sql.Tx, r *ConsentRequest, terms consent.Terms, now time.Time, who decider) error {
	if !r.ExpiresAt.After(now) {
		return trove.Errorf(trove.ECONFLICT, "request %s asks for a consent that ended at %s", r.ID, r.ExpiresAt.Format(time.RFC3339))
	}
	consentID, err := v.insertConsent(ctx, tx, r, terms, now)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE consent_requests SET state = 'approved', consent_id = ?, decided_at = ?, decided_by = ? WHERE id = ?`,
		consentID, formatTime(now), who.by, r.ID); err != nil {
		return err
	}
	_, err = v.appendLog(ctx, tx, ledger.Entry{
		Type: ledger.RequestApproved, Time: now, Subject: r.Requester,
		Fields: who.logFields(map[string]string{"request_id": r.ID, "consent_id": consentID, "dataset_digest": terms.DatasetDigest, "algorithm": terms.Algorithm}),
	})
	return err
}

// deny marks r denied.
func (v *Vault) deny(ctx context.Context, tx *sql.Tx, r *ConsentRequest, now time.Time, who decider) error {
	if _, err := tx.ExecContext(ctx, `UPDATE consent_requests SET state = 'denied', decided_at = ?, decided_by = ? WHERE id = ?`,
		formatTime(now), who.by, r.ID); err != nil {
		return err
	}
	_, err := v.appendLog(ctx, tx, ledger.Entry{
		Type: ledger.RequestDenied, Time: now, Subject: r.Requester,
		Fields: who.logFields(map[string]string{"request_id": r.ID}),
	})
	return err
}

// requestTerms returns the terms a request asks for, with the dataset's
// current digest and, when it names no columns, all of the dataset's.
func (v *Vault) requestTerms(ctx context.Context, tx *sql.Tx, r *ConsentRequest) (consent.Terms, error) {
	t := r.Request.Terms()
	var schemaS string
	err := tx.QueryRowContext(ctx, `SELECT digest, schema FROM datasets WHERE name = ?`, r.Dataset).Scan(&t.DatasetDigest, &schemaS)
	if errors.Is(err, sql.ErrNoRows) {
		return t, trove.Errorf(trove.ECONFLICT, "dataset %q no longer exists", r.Dataset)
	} else if err != nil {
		return t, err
	}
	var schema []dataset.Field
	if err := json.Unmarshal([]byte(schemaS), &schema); err != nil {
		return t, fmt.Errorf("dataset %s: stored schema: %w", r.Dataset, err)
	}
	if len(t.Columns) == 0 {
		for _, f := range schema {
			t.Columns = append(t.Columns, f.Name)
		}
	}
	if err := checkColumnsExist(&Dataset{Schema: schema}, t.Columns); err != nil {
		return t, err
	}
	return t, nil
}

// insertConsent issues the Consent credential for r under terms, valid
// from now until the end the request asked for, and records it.
func (v *Vault) insertConsent(ctx context.Context, tx *sql.Tx, r *ConsentRequest, terms consent.Terms, now time.Time) (string, error) {
	consentID, err := v.newUUID()
	if err != nil {
		return "", err
	}
	status, err := v.allocateStatus(ctx, tx)
	if err != nil {
		return "", err
	}
	vc, err := consent.Issue(v.signer(), r.Requester, terms, now, r.ExpiresAt, consentID, status)
	if err != nil {
		return "", fmt.Errorf("issue credential: %w", err)
	}
	cols, output, err := encodeTerms(terms.Columns, terms.Output)
	if err != nil {
		return "", err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO consents
		(id, request_id, requester, dataset, dataset_digest, algorithm, max_runs, amount, currency, not_before, expires_at, credential, created_at,
		 columns, purpose, purpose_code, output, per, status_list, status_index, share)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		consentID, r.ID, r.Requester, terms.Dataset, terms.DatasetDigest, terms.Algorithm, terms.MaxRuns, terms.Price.Amount, terms.Price.Currency,
		formatTime(now), formatTime(r.ExpiresAt), vc, formatTime(now),
		cols, terms.Purpose, terms.PurposeCode, output, terms.Per, StatusListID, status.Index, terms.Share); err != nil {
		return "", err
	}
	return consentID, nil
}

// checkColumnsExist refuses columns the dataset does not have.
func checkColumnsExist(ds *Dataset, cols []string) error {
	for _, c := range cols {
		if !slices.ContainsFunc(ds.Schema, func(f dataset.Field) bool { return f.Name == c }) {
			return &trove.Error{Code: trove.EINVALID, Reason: "unknown_column", Message: fmt.Sprintf("dataset %s has no column %q", ds.Name, c)}
		}
	}
	return nil
}

// encodeTerms returns the stored forms of columns and an output policy.
func encodeTerms(cols []string, out consent.OutputPolicy) (string, string, error) {
	if cols == nil {
		cols = []string{}
	}
	c, err := json.Marshal(cols)
	if err != nil {
		return "", "", err
	}
	o, err := json.Marshal(out)
	if err != nil {
		return "", "", err
	}
	return string(c), string(o), nil
}

// decodeTerms reads what encodeTerms stored; no columns decode as nil.
func decodeTerms(cols, out string, dstCols *[]string, dstOut *consent.OutputPolicy) error {
	if err := json.Unmarshal([]byte(cols), dstCols); err != nil {
		return fmt.Errorf("stored columns: %w", err)
	}
	if len(*dstCols) == 0 {
		*dstCols = nil
	}
	if err := json.Unmarshal([]byte(out), dstOut); err != nil {
		return fmt.Errorf("stored output policy: %w", err)
	}
	return nil
}

// Deny refuses a pending request.
func (v *Vault) Deny(ctx context.Context, id string) (*ConsentRequest, error) {
	now := v.now()
	err := v.write(ctx, func(tx *sql.Tx) error {
		r, err := v.pendingRequest(ctx, tx, id)
		if err != nil {
			return err
		}
		return v.deny(ctx, tx, r, now, byOwner)
	})
	if err != nil {
		return nil, err
	}
	return v.ConsentRequest(ctx, id)
}

// Consents lists issued consents, newest first.
func (v *Vault) Consents(ctx context.Context) ([]Consent, error) {
	rows, err := v.db.QueryContext(ctx, `SELECT `+consentColumns+` FROM consents ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list consents: %w", err)
	}
	defer rows.Close()
	var out []Consent
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, fmt.Errorf("list consents: %w", err)
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

const consentColumns = `id, request_id, requester, dataset, dataset_digest, algorithm, max_runs, runs_used, amount, currency, not_before, expires_at, credential,
	columns, purpose, purpose_code, output, per, status_index, revoked_at, share`

func scanConsent(s scanner) (*Consent, error) {
	var c Consent
	var nbf, exp, cols, output string
	var revoked sql.NullString
	if err := s.Scan(&c.ID, &c.RequestID, &c.Requester, &c.Dataset, &c.DatasetDigest, &c.Algorithm,
		&c.MaxRuns, &c.RunsUsed, &c.Price.Amount, &c.Price.Currency, &nbf, &exp, &c.Credential,
		&cols, &c.Purpose, &c.PurposeCode, &output, &c.Per, &c.StatusIndex, &revoked, &c.Share); err != nil {
		return nil, err
	}
	if revoked.Valid {
		t, err := parseTime(revoked.String)
		if err != nil {
			return nil, err
		}
		c.RevokedAt = &t
	}
	if err := decodeTerms(cols, output, &c.Columns, &c.Output); err != nil {
		return nil, err
	}
	var err error
	if c.NotBefore, err = parseTime(nbf); err != nil {
		return nil, err
	}
	if c.ExpiresAt, err = parseTime(exp); err != nil {
		return nil, err
	}
	return &c, nil
}

// newUUID returns a random UUID URN, the form credential ids take.
func (v *Vault) newUUID() (string, error) {
	u, err := uuid.NewRandomFromReader(v.cfg.Rand)
	if err != nil {
		return "", err
	}
	return u.URN(), nil
}

// consentReason returns the stable reason code of a consent error.
func consentReason(err error) string {
	var ce *consent.Error
	if errors.As(err, &ce) {
		return string(ce.Code)
	}
	return "invalid"
}
