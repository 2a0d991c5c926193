package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/ledger"
)

// Job states.
const (
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
	// JobAwaitingReview: the job ran; its result waits for the owner to
	// release or withhold it.
	JobAwaitingReview = "awaiting_review"
	// JobWithheld: the owner withheld the result; nothing left the vault.
	JobWithheld = "withheld"
)

// Release states of a job's result, as stored.
const (
	released = "released"
	held     = "held"
	withheld = "withheld"
)

// JobRequest is what a requester sends to run an algorithm.
type JobRequest struct {
	Presentation string          // VP-JWT holding the Consent credential, bound to a challenge
	Algorithm    string          // the consented algorithm: a module's sha256 or a built-in id
	Module       []byte          // the WebAssembly module, for a non-built-in algorithm
	Params       json.RawMessage // parameters passed to the algorithm
	Requester    string          // the authenticated sender, when the caller authenticated one: it must be the holder
}

// Job is a run of an algorithm and, once it succeeded, its result, receipt
// and claim.
type Job struct {
	ID           string          `json:"id"`
	ConsentID    string          `json:"consent_id"`
	Requester    string          `json:"requester"`
	Algorithm    string          `json:"algorithm"`
	State        string          `json:"state"`
	Reason       string          `json:"reason,omitempty"`
	Policy       string          `json:"policy,omitempty"` // the output policy it ran under
	Result       json.RawMessage `json:"result,omitempty"`
	OutputSHA256 string          `json:"output_sha256,omitempty"`
	Receipt      json.RawMessage `json:"receipt,omitempty"` // the ledger.Receipt bundle
	Claim        *ledger.Claim   `json:"claim,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
	FinishedAt   *time.Time      `json:"finished_at,omitempty"`
}

// Challenge returns a fresh single-use nonce for a job presentation, and
// when it stops being usable.
func (v *Vault) Challenge(ctx context.Context) (string, time.Time, error) {
	var b [32]byte
	if _, err := io.ReadFull(v.cfg.Rand, b[:]); err != nil {
		return "", time.Time{}, err
	}
	nonce := base64.RawURLEncoding.EncodeToString(b[:])
	now := v.now()
	exp := now.Add(v.cfg.ChallengeTTL)
	err := v.write(ctx, func(tx *sql.Tx) error {
		// Expired nonces can be forgotten: a presentation bound to one is
		// refused for its expiry whether or not it is remembered.
		if _, err := tx.ExecContext(ctx, `DELETE FROM nonces WHERE expires_at < ?`, formatTime(now.Add(-time.Hour))); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO nonces (nonce, expires_at) VALUES (?, ?)`, nonce, formatTime(exp))
		return err
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return nonce, exp, nil
}

// refusal is a job refused before it ran: the reason is logged.
func refusal(reason, format string, args ...any) *trove.Error {
	return &trove.Error{Code: trove.EFORBIDDEN, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// RunJob checks a job against its consent and, if everything holds, runs
// it and returns it with its result, receipt and claim. The checks, in
// order: the presentation and the credential in it (signatures, validity,
// audience, holder = subject); the nonce (issued here, unused, unexpired);
// the credential is one this vault issued; the algorithm (a module's hash
// must equal the consented hash); the dataset is unchanged; a run is left.
// A refused job is logged with its reason. The result is returned only
// after the log entry behind its receipt is committed.
//
// A job first takes its place in the job queue: when the queue is full it
// is refused at once with ETOOMANY (reason "busy"), before anything is
// checked, counted or logged. Once accepted, the job's outcome is recorded
// even if ctx ends meanwhile (a requester that hangs up stops its job, which
// is then recorded as failed).
func (v *Vault) RunJob(ctx context.Context, jr JobRequest) (*Job, error) {
	leave, err := v.queue.Enter(ctx)
	if errors.Is(err, compute.ErrBusy) {
		return nil, &trove.Error{Code: trove.ETOOMANY, Reason: "busy", Message: "the vault is running all the jobs it can; try again later", Err: err}
	} else if err != nil {
		return nil, &trove.Error{Code: trove.EUNAVAILABLE, Reason: "canceled", Message: "the job was abandoned while it waited for its turn", Err: err}
	}
	defer leave()
	now := v.now()
	c, job, pol, err := v.acceptJob(ctx, jr, now)
	if err != nil {
		var te *trove.Error
		if errors.As(err, &te) && te.Code == trove.EFORBIDDEN {
			if lerr := v.logRefusal(ctx, jr, te.Reason, now); lerr != nil {
				return nil, lerr
			}
		}
		return nil, err
	}
	out, runErr := v.execute(ctx, c, jr, job.ID, pol)
	ctx = context.WithoutCancel(ctx) // what happened is recorded whatever the requester does
	if runErr != nil {
		return v.failJob(ctx, job, out, runErr)
	}
	if pol.Kind == compute.PolicyReview {
		return v.holdJob(ctx, job, out)
	}
	return v.finishJob(ctx, c, job, out)
}

// logRefusal records a refused job. The requester is named only when the
// presentation's holder could be established.
func (v *Vault) logRefusal(ctx context.Context, jr JobRequest, reason string, now time.Time) error {
	subject := ""
	if p, err := v.verifier.VerifyPresentation(ctx, jr.Presentation, v.DID(), now, v.formerDIDs()...); err == nil {
		subject = p.Holder
	}
	return v.logOnly(ctx, ledger.Entry{
		Type: ledger.JobRejected, Time: now, Subject: subject,
		Fields: map[string]string{"reason": reason, "algorithm": truncate(jr.Algorithm, 80)},
	})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// acceptJob runs every check and, in one transaction, consumes the nonce,
// counts the run, charges a DP job to the dataset's budget, records the
// job and logs its acceptance. It returns the job's output policy.
func (v *Vault) acceptJob(ctx context.Context, jr JobRequest, now time.Time) (*Consent, *Job, compute.OutputPolicy, error) {
	var pol compute.OutputPolicy
	p, err := v.verifier.VerifyPresentation(ctx, jr.Presentation, v.DID(), now, v.formerDIDs()...)
	if err != nil {
		return nil, nil, pol, &trove.Error{Code: trove.EFORBIDDEN, Reason: consentReason(err), Message: err.Error(), Err: err}
	}
	if jr.Requester != "" && jr.Requester != p.Holder {
		return nil, nil, pol, refusal("holder_not_sender", "the presentation's holder is not the requester who sent the job")
	}
	// A credential issued under any DID the owner has had is this vault's:
	// rotating the owner key revokes nothing.
	cred := p.Credential
	if !v.isOwnerDID(cred.Issuer) || !v.isOwnerDID(cred.Terms.Vault) {
		return nil, nil, pol, refusal("wrong_issuer", "the credential was not issued by this vault")
	}
	algorithm := cred.Terms.Algorithm
	if compute.IsBuiltin(algorithm) {
		if jr.Algorithm != algorithm || len(jr.Module) > 0 {
			return nil, nil, pol, refusal("algorithm_mismatch", "the consent is for %s", algorithm)
		}
	} else {
		if len(jr.Module) == 0 {
			return nil, nil, pol, refusal("algorithm_mismatch", "the consent is for a WebAssembly module; none was sent")
		}
		if h := compute.ModuleHash(jr.Module); h != algorithm || (jr.Algorithm != "" && jr.Algorithm != h) {
			return nil, nil, pol, refusal("algorithm_mismatch", "the module's sha256 is not the one the consent names")
		}
	}
	jobID, err := v.newID("job")
	if err != nil {
		return nil, nil, pol, err
	}
	var c *Consent
	err = v.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE nonces SET used_at = ? WHERE nonce = ? AND used_at IS NULL AND expires_at > ?`,
			formatTime(now), p.Nonce, formatTime(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return refusal("nonce_invalid", "the presentation's nonce was not issued by this vault, is used, or has expired")
		}
		c, err = scanConsent(tx.QueryRowContext(ctx, `SELECT `+consentColumns+` FROM consents WHERE id = ?`, cred.ID))
		if errors.Is(err, sql.ErrNoRows) {
			return refusal("unknown_consent", "this vault did not issue the presented credential")
		} else if err != nil {
			return err
		}
		if c.Credential != cred.Raw {
			return refusal("unknown_consent", "this vault did not issue the presented credential")
		}
		if c.RevokedAt != nil {
			return refusal("revoked", "the owner has revoked the consent")
		}
		var digest string
		err = tx.QueryRowContext(ctx, `SELECT digest FROM datasets WHERE name = ?`, c.Dataset).Scan(&digest)
		if errors.Is(err, sql.ErrNoRows) || digest != c.DatasetDigest {
			return refusal("dataset_changed", "the dataset the consent names has changed or is gone")
		} else if err != nil {
			return err
		}
		if c.RunsUsed >= c.MaxRuns {
			return refusal("runs_exhausted", "all %d runs of the consent are used", c.MaxRuns)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE consents SET runs_used = runs_used + 1 WHERE id = ? AND runs_used < max_runs`, c.ID); err != nil {
			return err
		}
		c.RunsUsed++
		var priv *Privacy
		if pol, priv, err = v.chargePolicy(ctx, tx, c); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO jobs (id, consent_id, requester, algorithm, state, policy, dp_epsilon, dp_delta, params_sha256, created_at) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)`,
			jobID, c.ID, c.Requester, algorithm, pol.Kind, pol.Epsilon, pol.Delta, paramsHash(jr.Params), formatTime(now)); err != nil {
			return err
		}
		fields := map[string]string{"job_id": jobID, "consent_id": c.ID, "algorithm": algorithm, "dataset_digest": c.DatasetDigest,
			"run": fmt.Sprintf("%d/%d", c.RunsUsed, c.MaxRuns), "policy": pol.Kind}
		if pol.Kind == compute.PolicyDP {
			fields["dp_epsilon"], fields["dp_delta"] = fmtFloat(pol.Epsilon), fmtFloat(pol.Delta)
			fields["budget_spent_epsilon"], fields["budget_left_epsilon"] = fmtFloat(priv.SpentEpsilon), fmtFloat(priv.LeftEpsilon)
		}
		_, err = v.appendLog(ctx, tx, ledger.Entry{Type: ledger.JobAccepted, Time: now, Subject: c.Requester, Fields: fields})
		return err
	})
	if err != nil {
		return nil, nil, pol, err
	}
	return c, &Job{ID: jobID, ConsentID: c.ID, Requester: c.Requester, Algorithm: algorithm, State: JobRunning, Policy: pol.Kind, CreatedAt: now}, pol, nil
}

// execute decrypts the consented dataset and runs the algorithm over it,
// under pol: a DP job runs the built-in's private form.
func (v *Vault) execute(ctx context.Context, c *Consent, jr JobRequest, jobID string, pol compute.OutputPolicy) (*compute.Output, error) {
	full, err := v.loadTable(ctx, c.Dataset, c.DatasetDigest)
	if err != nil {
		return nil, err
	}
	// The algorithm sees the consented columns only. Every issued consent
	// names them: an empty list is a corrupt record, not "all".
	if len(c.Columns) == 0 {
		return nil, fmt.Errorf("consent %s names no columns", c.ID)
	}
	t, err := full.Select(c.Columns)
	if err != nil {
		return nil, fmt.Errorf("select the consented columns: %w", err)
	}
	in := compute.Input{JobID: jobID, Table: t, Params: jr.Params}
	if compute.IsBuiltin(c.Algorithm) {
		// Built-ins check ctx between passes: the sandbox's deadline bounds
		// them too.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, v.cfg.Compute.Timeout)
		defer cancel()
	}
	if pol.Kind == compute.PolicyDP {
		rng, err := v.dpRand()
		if err != nil {
			return nil, err
		}
		return compute.RunBuiltinDP(ctx, c.Algorithm, in, pol, rng)
	}
	if compute.IsBuiltin(c.Algorithm) {
		return compute.RunBuiltin(ctx, c.Algorithm, in)
	}
	sb, err := v.compute(ctx)
	if err != nil {
		return nil, err
	}
	return sb.Run(ctx, jr.Module, in)
}

// failJob records a run that did not produce a result. Its output, if any,
// is discarded; its stderr is kept for the owner.
func (v *Vault) failJob(ctx context.Context, job *Job, out *compute.Output, runErr error) (*Job, error) {
	now := v.now()
	reason := jobFailureReason(runErr)
	v.cfg.Logger.Warn("job failed", "job", job.ID, "reason", reason)
	var stderr []byte
	if out != nil {
		stderr = out.Stderr
	}
	err := v.writeWait(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'failed', reason = ?, stderr = ?, finished_at = ? WHERE id = ?`, reason, stderr, formatTime(now), job.ID); err != nil {
			return err
		}
		_, err := v.appendLog(ctx, tx, ledger.Entry{
			Type: ledger.RunFinished, Time: now, Subject: job.Requester,
			Fields: map[string]string{"job_id": job.ID, "status": "failed", "reason": reason},
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	job.State, job.Reason, job.FinishedAt = JobFailed, reason, &now
	return job, nil
}

// jobFailureReason names why a run failed, without echoing anything the
// module printed.
func jobFailureReason(err error) string {
	switch {
	case errors.Is(err, compute.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, compute.ErrOutputTooLarge):
		return "output_too_large"
	case errors.Is(err, compute.ErrModuleExit):
		return "module_exit"
	case errors.Is(err, compute.ErrInvalidModule):
		return "invalid_module"
	case errors.Is(err, compute.ErrBadOutput):
		return "bad_output"
	case errors.Is(err, compute.ErrTrap):
		return "trap"
	case errors.Is(err, compute.ErrBadInput):
		return "bad_input"
	case errors.Is(err, compute.ErrBadParams):
		return "bad_params"
	case errors.Is(err, compute.ErrPolicy):
		return "policy"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case trove.ErrorCode(err) == trove.EUNAVAILABLE:
		return "log_append_failed"
	}
	return "error"
}

// finishJob logs the finished run and the released result, signs the
// receipt over the release entry, creates the claim and logs it — all in
// one transaction — and only then returns the result.
func (v *Vault) finishJob(ctx context.Context, c *Consent, job *Job, out *compute.Output) (*Job, error) {
	now := v.now()
	sum := sha256.Sum256(out.Result)
	outHash := hex.EncodeToString(sum[:])
	var rowsRead uint64
	if err := v.db.QueryRowContext(ctx, `SELECT rows FROM datasets WHERE name = ? AND digest = ?`, c.Dataset, c.DatasetDigest).Scan(&rowsRead); err != nil {
		return v.withhold(ctx, job, unavailable(fmt.Errorf("rows read: %w", err)))
	}
	receiptID, err := v.newID("rcpt")
	if err != nil {
		return nil, err
	}
	claimID, err := v.newID("claim")
	if err != nil {
		return nil, err
	}
	var bundle []byte
	var claim *ledger.Claim
	rc := ledger.ReceiptClaims{
		ID: receiptID, JobID: job.ID, ConsentID: c.ID, Requester: c.Requester,
		DatasetDigest: c.DatasetDigest, Algorithm: c.Algorithm, OutputSHA256: outHash,
		RowsRead: rowsRead, IssuedAt: now.Truncate(time.Second),
	}
	err = v.writeWait(ctx, func(tx *sql.Tx) error {
		// The receipt and the claim are signed here, on the writer, by the
		// owner key of this batch: a rotation commits between batches, so
		// both name the DID whose checkpoint seals them.
		key := v.signer()
		rc.Vault = key.DID()
		var err error
		if claim, err = v.newClaim(key, claimID, c, rc); err != nil {
			return err
		}
		claimSum := sha256.Sum256([]byte(claim.Token))
		if err := v.receiptPolicy(ctx, tx, c, job, &rc); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT params_sha256 FROM jobs WHERE id = ?`, job.ID).Scan(&rc.ParamsSHA256); err != nil {
			return fmt.Errorf("job %s params: %w", job.ID, err)
		}
		if rc.ParamsSHA256 == "" { // a job accepted before params were hashed
			rc.ParamsSHA256 = paramsHash(nil)
		}
		// The receipt points at the release entry; the run before it and the
		// claim after it are in the same append, under one checkpoint.
		finished := ledger.Entry{Type: ledger.RunFinished, Time: now, Subject: job.Requester,
			Fields: map[string]string{"job_id": job.ID, "status": "succeeded", "output_sha256": outHash}}
		released := ledger.ReceiptEntry(rc)
		claimed := ledger.Entry{Type: ledger.ClaimCreated, Time: now, Subject: job.Requester,
			Fields: map[string]string{"claim_id": claimID, "receipt_id": receiptID, "job_id": job.ID,
				"amount": fmt.Sprint(claim.Amount), "currency": claim.Currency, "per": claim.Per,
				"quantity": fmt.Sprint(claim.Quantity), "claim_sha256": hex.EncodeToString(claimSum[:])}}
		if claim.Share != "" {
			// The amount is provisional until the requester settles it.
			claimed.Fields["share"] = claim.Share
		}
		a, err := v.appendLog(ctx, tx, finished, released, claimed)
		if err != nil {
			return err
		}
		note, err := v.checkpointFor(ctx, tx, a)
		if err != nil {
			return err
		}
		entryBytes, err := released.Marshal()
		if err != nil {
			return err
		}
		rc.LogIndex, rc.LeafHash = a.First+1, hex.EncodeToString(a.LeafHashes[1])
		jws, err := ledger.IssueReceipt(key, rc)
		if err != nil {
			return fmt.Errorf("sign receipt: %w", err)
		}
		proof, err := ledger.InclusionProof(ctx, leafReader{tx}, rc.LogIndex, a.Size)
		if err != nil {
			return fmt.Errorf("inclusion proof: %w", err)
		}
		bundle, err = json.Marshal(ledger.Receipt{Receipt: jws, Entry: entryBytes, Checkpoint: string(note), InclusionProof: proof})
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'succeeded', release = 'released', output = ?, output_sha256 = ?, receipt_id = ?, receipt = ?,
			stderr = coalesce(?, stderr), finished_at = coalesce(finished_at, ?) WHERE id = ? AND (state = 'running' OR release = 'held')`,
			[]byte(out.Result), outHash, receiptID, string(bundle), out.Stderr, formatTime(now), job.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return trove.Errorf(trove.ECONFLICT, "job %s is not running or held", job.ID)
		}
		return insertClaim(ctx, tx, claim)
	})
	if err != nil {
		return v.withhold(ctx, job, err)
	}
	job.State, job.Reason, job.Result, job.OutputSHA256, job.Receipt, job.Claim = JobSucceeded, "", out.Result, outHash, bundle, claim
	if job.FinishedAt == nil {
		job.FinishedAt = &now
	}
	return job, nil
}

// holdJob keeps a result for the owner's review: it is stored and logged
// as held, and nothing leaves until the owner releases it.
func (v *Vault) holdJob(ctx context.Context, job *Job, out *compute.Output) (*Job, error) {
	now := v.now()
	sum := sha256.Sum256(out.Result)
	outHash := hex.EncodeToString(sum[:])
	err := v.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'succeeded', release = 'held', output = ?, output_sha256 = ?, stderr = ?, finished_at = ? WHERE id = ?`,
			[]byte(out.Result), outHash, out.Stderr, formatTime(now), job.ID); err != nil {
			return err
		}
		_, err := v.appendLog(ctx, tx,
			ledger.Entry{Type: ledger.RunFinished, Time: now, Subject: job.Requester,
				Fields: map[string]string{"job_id": job.ID, "status": "succeeded", "output_sha256": outHash}},
			ledger.Entry{Type: ledger.ResultHeld, Time: now, Subject: job.Requester,
				Fields: map[string]string{"job_id": job.ID, "output_sha256": outHash}})
		return err
	})
	if err != nil {
		return nil, err
	}
	job.State, job.Reason, job.FinishedAt = JobAwaitingReview, "awaiting owner review", &now
	return job, nil
}

// ReviewJob returns a job held for review with its result, for the owner
// to read before releasing or withholding it.
func (v *Vault) ReviewJob(ctx context.Context, id string) (*Job, error) {
	j, output, err := v.heldJob(ctx, v.db, id)
	if err != nil {
		return nil, err
	}
	j.Result = output
	return j, nil
}

// heldJob reads a held job and its output; ECONFLICT when it is not held.
func (v *Vault) heldJob(ctx context.Context, q queryer, id string) (*Job, []byte, error) {
	j, err := v.Job(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if j.State != JobAwaitingReview {
		return nil, nil, trove.Errorf(trove.ECONFLICT, "job %s is %s, not awaiting review", id, j.State)
	}
	var output []byte
	if err := q.QueryRowContext(ctx, `SELECT output FROM jobs WHERE id = ?`, id).Scan(&output); err != nil {
		return nil, nil, fmt.Errorf("job %s output: %w", id, err)
	}
	return j, output, nil
}

// ReleaseJob releases a held result: the owner's yes. It gets its receipt
// and claim as a released job does.
func (v *Vault) ReleaseJob(ctx context.Context, id string) (*Job, error) {
	j, output, err := v.heldJob(ctx, v.db, id)
	if err != nil {
		return nil, err
	}
	c, err := scanConsent(v.db.QueryRowContext(ctx, `SELECT `+consentColumns+` FROM consents WHERE id = ?`, j.ConsentID))
	if err != nil {
		return nil, fmt.Errorf("release job %s: consent: %w", id, err)
	}
	return v.finishJob(ctx, c, j, &compute.Output{Result: output})
}

// WithholdJob withholds a held result: the owner's no. The result is
// deleted; the requester sees the job as withheld, with no receipt or
// claim.
func (v *Vault) WithholdJob(ctx context.Context, id string) (*Job, error) {
	j, err := v.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	now := v.now()
	err = v.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET release = 'withheld', output = NULL WHERE id = ? AND release = 'held'`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return trove.Errorf(trove.ECONFLICT, "job %s is not awaiting review", id)
		}
		_, err = v.appendLog(ctx, tx, ledger.Entry{Type: ledger.ResultWithheld, Time: now, Subject: j.Requester,
			Fields: map[string]string{"job_id": id, "output_sha256": j.OutputSHA256}})
		return err
	})
	if err != nil {
		return nil, err
	}
	j.State, j.Reason = JobWithheld, "withheld by the owner"
	return j, nil
}

// withhold discards a finished job's result because its release could not
// be logged: without a durable receipt nothing leaves. The job is marked
// failed if storage lets us; if not, it stays "running", with no output,
// receipt or claim (a result held for review stays held). It returns err.
func (v *Vault) withhold(ctx context.Context, job *Job, err error) (*Job, error) {
	v.cfg.Logger.Error("job result withheld: log append failed", "job", job.ID, "err", err)
	if job.State != JobRunning {
		return nil, err // a held result stays held: the owner may release it again
	}
	if _, ferr := v.failJob(ctx, job, nil, err); ferr != nil {
		v.cfg.Logger.Error("cannot mark job failed", "job", job.ID, "err", ferr)
	}
	return nil, err
}

// paramsHash is the sha256 hex of a job's parameters as compact JSON (of
// the empty string when there are none): what its receipt records.
func paramsHash(params json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, params); err != nil {
		b.Reset()
		b.Write(params) // not JSON: the run refused it already; hash what came
	}
	sum := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(sum[:])
}

// Job returns a job by id.
func (v *Vault) Job(ctx context.Context, id string) (*Job, error) {
	var j Job
	var output []byte
	var receipt, finished sql.NullString
	var created, release string
	err := v.db.QueryRowContext(ctx, `SELECT id, consent_id, requester, algorithm, state, reason, policy, release, output, output_sha256, receipt, created_at, finished_at FROM jobs WHERE id = ?`, id).
		Scan(&j.ID, &j.ConsentID, &j.Requester, &j.Algorithm, &j.State, &j.Reason, &j.Policy, &release, &output, &j.OutputSHA256, &receipt, &created, &finished)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trove.Errorf(trove.ENOTFOUND, "no job %q", id)
	} else if err != nil {
		return nil, fmt.Errorf("job %s: %w", id, err)
	}
	if j.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if finished.Valid {
		t, err := parseTime(finished.String)
		if err != nil {
			return nil, err
		}
		j.FinishedAt = &t
	}
	j.State, j.Reason = shownState(j.State, release, j.Reason)
	if j.State == JobSucceeded {
		j.Result, j.Receipt = output, json.RawMessage(receipt.String)
		claims, err := v.claims(ctx, v.db, `WHERE job_id = ?`, id)
		if err != nil {
			return nil, err
		}
		if len(claims) == 1 {
			j.Claim = &claims[0]
		}
	}
	return &j, nil
}

// Receipt returns the receipt bundle with the given receipt id.
func (v *Vault) Receipt(ctx context.Context, id string) (json.RawMessage, error) {
	var bundle string
	err := v.db.QueryRowContext(ctx, `SELECT receipt FROM jobs WHERE receipt_id = ?`, id).Scan(&bundle)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trove.Errorf(trove.ENOTFOUND, "no receipt %q", id)
	} else if err != nil {
		return nil, fmt.Errorf("receipt %s: %w", id, err)
	}
	return json.RawMessage(bundle), nil
}

// JobStderr returns what a job's module wrote on stderr, up to the
// sandbox's cap: for the owner only, since it may hold anything the module
// read, data included.
func (v *Vault) JobStderr(ctx context.Context, id string) ([]byte, error) {
	var stderr []byte
	err := v.db.QueryRowContext(ctx, `SELECT stderr FROM jobs WHERE id = ?`, id).Scan(&stderr)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trove.Errorf(trove.ENOTFOUND, "no job %q", id)
	} else if err != nil {
		return nil, fmt.Errorf("job %s stderr: %w", id, err)
	}
	return stderr, nil
}

// Jobs returns every job, newest first, without results or receipts: the
// owner's overview.
func (v *Vault) Jobs(ctx context.Context) ([]Job, error) {
	rows, err := v.db.QueryContext(ctx, `SELECT id, consent_id, requester, algorithm, state, reason, policy, release, created_at, finished_at FROM jobs ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	var jobs []Job
	for rows.Next() {
		var j Job
		var created, release string
		var finished sql.NullString
		if err := rows.Scan(&j.ID, &j.ConsentID, &j.Requester, &j.Algorithm, &j.State, &j.Reason, &j.Policy, &release, &created, &finished); err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		j.State, j.Reason = shownState(j.State, release, j.Reason)
		if j.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		if finished.Valid {
			t, err := parseTime(finished.String)
			if err != nil {
				return nil, err
			}
			j.FinishedAt = &t
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return jobs, nil
}

// shownState is the state a job shows from its stored state and release.
func shownState(state, release, reason string) (string, string) {
	if state != JobSucceeded {
		return state, reason
	}
	switch release {
	case held:
		return JobAwaitingReview, "awaiting owner review"
	case withheld:
		return JobWithheld, "withheld by the owner"
	}
	return state, reason
}

// receiptPolicy records in rc the policy the job ran under and, for a DP
// job, its ε and δ and the dataset's budget spent and left.
func (v *Vault) receiptPolicy(ctx context.Context, tx *sql.Tx, c *Consent, job *Job, rc *ledger.ReceiptClaims) error {
	var dp ledger.ReceiptDP
	if err := tx.QueryRowContext(ctx, `SELECT policy, dp_epsilon, dp_delta FROM jobs WHERE id = ?`, job.ID).Scan(&rc.Policy, &dp.Epsilon, &dp.Delta); err != nil {
		return fmt.Errorf("job %s policy: %w", job.ID, err)
	}
	if rc.Policy != compute.PolicyDP {
		return nil
	}
	priv, err := readPrivacy(ctx, tx, c.Dataset)
	if err != nil {
		return err
	}
	dp.SpentEpsilon, dp.LeftEpsilon = priv.SpentEpsilon, priv.LeftEpsilon
	rc.DP = &dp
	return nil
}

// FailInterruptedJobs marks failed, with reason "interrupted" and a log
// entry each, the jobs left running by a vault process that stopped
// mid-run (a crash, a kill, a failed release): their results never left
// and never will. trove serve calls it when it starts, as the one process
// that runs this vault's jobs; it returns how many it failed.
func (v *Vault) FailInterruptedJobs(ctx context.Context) (int, error) {
	now := v.now()
	n := 0
	err := v.writeWait(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, requester FROM jobs WHERE state = 'running' ORDER BY created_at, id`)
		if err != nil {
			return err
		}
		type job struct{ id, requester string }
		var jobs []job
		for rows.Next() {
			var j job
			if err := rows.Scan(&j.id, &j.requester); err != nil {
				rows.Close()
				return err
			}
			jobs = append(jobs, j)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var entries []ledger.Entry
		for _, j := range jobs {
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'failed', reason = 'interrupted', output = NULL, finished_at = ? WHERE id = ? AND state = 'running'`,
				formatTime(now), j.id); err != nil {
				return err
			}
			entries = append(entries, ledger.Entry{Type: ledger.RunFinished, Time: now, Subject: j.requester,
				Fields: map[string]string{"job_id": j.id, "status": "failed", "reason": "interrupted"}})
		}
		if len(entries) > 0 {
			if _, err := v.appendLog(ctx, tx, entries...); err != nil {
				return err
			}
		}
		n = len(jobs)
		return nil
	})
	return n, err
}
