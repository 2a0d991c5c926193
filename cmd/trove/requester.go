package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/internal/safefile"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/requester"
	"github.com/trove-project/trove/vault"
)

func openRequester(cfg *Config) (*requester.Requester, error) {
	pass, err := cfg.passphrase("Passphrase for the requester in "+cfg.RequesterHome, false)
	if err != nil {
		return nil, usageError("%v", err)
	}
	return requester.Open(cfg.RequesterHome, pass, requester.Options{WebLoopbackHTTP: cfg.WebLoopbackHTTP})
}

// openRequesterAt opens the requester home and returns a client for the
// vault at vaultURL.
func openRequesterAt(cfg *Config, vaultURL string) (*requester.Requester, *api.Client, error) {
	r, err := openRequester(cfg)
	if err != nil {
		return nil, nil, err
	}
	client, err := api.NewClient(vaultURL, nil)
	if err != nil {
		return nil, nil, err
	}
	return r, client, nil
}

// openRequest opens the requester home, finds the request id it sent and
// returns a client for the vault it was sent to.
func openRequest(cfg *Config, id string) (*requester.Requester, *requester.PendingRequest, *api.Client, error) {
	r, err := openRequester(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := r.Request(id)
	if err != nil {
		return nil, nil, nil, err
	}
	client, err := api.NewClient(p.VaultURL, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	return r, p, client, nil
}

func requesterCmd(cfg *Config) *cobra.Command {
	c := &cobra.Command{Use: "requester", Short: "Manage the requester identity"}
	c.AddCommand(&cobra.Command{
		Use:   "init",
		Short: "Create a requester identity (a did:key) in its own home",
		Long: `Create a requester home (--requester-home, $TROVE_REQUESTER_HOME, default
~/.trove-requester) holding a new did:key sealed under a passphrase.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pass, err := cfg.passphrase("New passphrase for the requester", true)
			if err != nil {
				return usageError("%v", err)
			}
			r, err := requester.Init(cfg.RequesterHome, pass, requester.Options{WorkFactor: cfg.WorkFactor})
			if err != nil {
				return err
			}
			fmt.Fprintf(cfg.Stdout, "Created a requester in %s\nIts DID: %s\n", cfg.RequesterHome, r.DID())
			return nil
		},
	})
	return c
}

// algorithmArg reads --algorithm: a built-in id, or a .wasm file whose
// sha256 names it.
func algorithmArg(arg string) (id string, module []byte, err error) {
	if compute.IsBuiltin(arg) {
		return arg, nil, nil
	}
	if strings.HasPrefix(arg, "builtin:") {
		return "", nil, usageError("unknown built-in algorithm %q (known: %s)", arg, strings.Join(compute.Builtins(), ", "))
	}
	module, err = os.ReadFile(arg)
	if err != nil {
		return "", nil, usageError("--algorithm: %v", err)
	}
	return compute.ModuleHash(module), module, nil
}

// parsePrice reads "250 EUR" or "250EUR": integer minor units and a code.
func parsePrice(s string) (consent.Money, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i <= 0 {
		return consent.Money{}, usageError("--price %q: want integer minor units and a currency, like \"250 EUR\" (2.50 EUR)", s)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return consent.Money{}, usageError("--price %q: %v", s, err)
	}
	return consent.Money{Amount: n, Currency: strings.ToUpper(strings.TrimSpace(s[i:]))}, nil
}

func requestCmd(cfg *Config) *cobra.Command {
	c := &cobra.Command{Use: "request", Short: "Ask vaults for consent and run jobs under it"}
	var (
		vaultURL, dataset, algorithm, purpose, price string
		vaultDID                                     string
		purposeCode, output, per, share              string
		columns                                      []string
		runs                                         int
		epsilon, delta                               float64
		validity                                     time.Duration
	)
	ask := &cobra.Command{
		Use:   "consent",
		Short: "Ask a vault's owner for consent to run an algorithm on a dataset",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if vaultDID != "" {
				if err := requester.CheckWebDID(vaultDID); err != nil {
					return fmt.Errorf("--vault-did: %w", err)
				}
			}
			alg, _, err := algorithmArg(algorithm)
			if err != nil {
				return err
			}
			p, err := parsePrice(price)
			if err != nil {
				return err
			}
			r, client, err := openRequesterAt(cfg, vaultURL)
			if err != nil {
				return err
			}
			st, err := r.RequestConsent(cmd.Context(), client, requester.Ask{
				Dataset: dataset, Algorithm: alg, Columns: columns, Purpose: purpose, PurposeCode: purposeCode,
				MaxRuns: runs, Output: consent.OutputPolicy{Policy: output, Epsilon: epsilon, Delta: delta},
				Price: p, Per: per, Share: share, Validity: validity, WebDID: vaultDID,
			})
			if err != nil {
				return err
			}
			if vaultDID != "" {
				fmt.Fprintf(cfg.Stdout, "Verified the vault as %s: its DID document vouches for the vault's did:key.\n", vaultDID)
			}
			fmt.Fprintf(cfg.Stdout, "Sent request %s (%s). Follow it with: trove request status %s\n", st.ID, st.State, st.ID)
			return nil
		},
	}
	ask.Flags().StringVar(&vaultURL, "vault", "", "the vault's API URL (required)")
	ask.Flags().StringVar(&vaultDID, "vault-did", "", "the did:web the vault must be (did:web:HOST): its document, over HTTPS, must vouch for the vault's did:key before anything is sent")
	ask.Flags().StringVar(&dataset, "dataset", "", "dataset name from the vault's catalog (required)")
	ask.Flags().StringVar(&algorithm, "algorithm", "", "a .wasm module or a built-in id such as builtin:stats@1 (required)")
	ask.Flags().StringVar(&purpose, "purpose", "", "what the results are for, in words the owner understands (required)")
	ask.Flags().StringSliceVar(&columns, "columns", nil, "the columns to read, comma-separated (default all)")
	ask.Flags().StringVar(&purposeCode, "purpose-code", consent.PurposeOther, "the purpose's code: "+strings.Join(consent.PurposeCodes(), ", "))
	ask.Flags().IntVar(&runs, "runs", 1, "how many runs to ask for")
	ask.Flags().StringVar(&output, "output", consent.OutputRelease, "what happens to results: release, review (the owner approves each) or dp")
	ask.Flags().Float64Var(&epsilon, "epsilon", 0, "the differential-privacy ε budget, with --output dp")
	ask.Flags().Float64Var(&delta, "delta", 0, "the differential-privacy δ budget, with --output dp")
	ask.Flags().StringVar(&price, "price", "0 EUR", "price per unit in integer minor units and a currency, like \"250 EUR\"")
	ask.Flags().StringVar(&per, "per", consent.PerRun, "the unit the price pays for: run, round or 1000-rows")
	ask.Flags().StringVar(&share, "share", "", "with --per round: contribution shares each round's pool (price × updates) by contribution, settled by Contribution credentials")
	ask.Flags().DurationVar(&validity, "valid-for", 30*24*time.Hour, "how long the consent should last")
	for _, f := range []string{"vault", "dataset", "algorithm", "purpose"} {
		ask.MarkFlagRequired(f)
	}

	status := &cobra.Command{
		Use:   "status ID",
		Short: "Show whether a request is pending, approved or denied; keep the credential once approved",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, p, client, err := openRequest(cfg, args[0])
			if err != nil {
				return err
			}
			st, cred, err := r.RequestStatus(cmd.Context(), client, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cfg.Stdout, "Request %s: %s\n", st.ID, st.State)
			if p.WebDID != "" {
				fmt.Fprintf(cfg.Stdout, "Sent to the vault verified as %s (its DID document vouched for %s).\n", p.WebDID, p.Vault)
			}
			if st.State == vault.Countered {
				co, err := r.CounterOffer(cmd.Context(), client, args[0])
				if err != nil {
					return err
				}
				t := co.Terms
				fmt.Fprintf(cfg.Stdout, "The owner offers instead: %d runs until %s, columns %s, output %s, %s per %s.\n"+
					"Answer with: trove request accept %s  or  trove request decline %s\n",
					t.MaxRuns, co.ExpiresAt.Format(time.RFC3339), strings.Join(t.Columns, ", "), outputPolicy(t.Output),
					money(t.Price.Amount, t.Price.Currency), t.Per, st.ID, st.ID)
			}
			if cred != nil {
				// The vault's signed status list says whether the owner has
				// revoked the consent since.
				if err := r.CheckStatus(cmd.Context(), client, cred.Raw); trove.ErrorReason(err) == string(consent.ErrRevoked) {
					fmt.Fprintf(cfg.Stdout, "Consent %s: revoked by the owner; it can no longer be used.\n", cred.ID)
					return nil
				} else if err != nil {
					return err
				}
				fmt.Fprintf(cfg.Stdout, "Consent %s: %d runs of %s on %s until %s\nRun it with: trove request run --vault %s --consent %s\n",
					cred.ID, cred.Terms.MaxRuns, cred.Terms.Algorithm, cred.Terms.Dataset, cred.Expires.Format(time.RFC3339), p.VaultURL, cred.ID)
			}
			return nil
		},
	}

	var consentID, params, out, module string
	run := &cobra.Command{
		Use:   "run",
		Short: "Run a job under a consent; keep the result, the receipt and the checkpoint",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := openRequester(cfg)
			if err != nil {
				return err
			}
			cred, err := r.Credential(consentID)
			if err != nil {
				return err
			}
			var mod []byte
			if module != "" {
				if _, mod, err = algorithmArg(module); err != nil {
					return err
				}
			}
			if params != "" && !json.Valid([]byte(params)) {
				return usageError("--params is not valid JSON")
			}
			client, err := api.NewClient(vaultURL, nil)
			if err != nil {
				return err
			}
			var res *requester.Run
			err = whileRunning(cfg.Stderr, "Running the job at the vault", func() (err error) {
				res, err = r.RunJob(cmd.Context(), client, cred, mod, json.RawMessage(params))
				return err
			})
			if err != nil {
				return err
			}
			if err := writeRun(out, cred, res); err != nil {
				return err
			}
			fmt.Fprintf(cfg.Stdout, "Job %s succeeded; receipt %s verified (log entry %d of %d).\nWrote result.json, receipt.json, checkpoint.txt, presentation.jwt, consent.jwt to %s\n",
				res.Job.ID, res.Receipt.ID, res.Receipt.LogIndex, res.Checkpoint.Size, out)
			return nil
		},
	}
	run.Flags().StringVar(&vaultURL, "vault", "", "the vault's API URL (required)")
	run.Flags().StringVar(&consentID, "consent", "", "the consent id from `trove request status` (required)")
	run.Flags().StringVar(&module, "module", "", "the .wasm module the consent names (not needed for built-ins)")
	run.Flags().StringVar(&params, "params", "", "JSON parameters for the algorithm")
	run.Flags().StringVar(&out, "out", ".", "directory for the result, receipt and checkpoint")
	for _, f := range []string{"vault", "consent"} {
		run.MarkFlagRequired(f)
	}
	answer := func(use, answer, short string) *cobra.Command {
		return &cobra.Command{
			Use: use + " ID", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				r, p, client, err := openRequest(cfg, args[0])
				if err != nil {
					return err
				}
				st, cred, err := r.AnswerCounter(cmd.Context(), client, args[0], answer)
				if err != nil {
					return err
				}
				fmt.Fprintf(cfg.Stdout, "Request %s: %s\n", st.ID, st.State)
				if cred != nil {
					fmt.Fprintf(cfg.Stdout, "Run it with: trove request run --vault %s --consent %s\n", p.VaultURL, cred.ID)
				}
				return nil
			},
		}
	}
	c.AddCommand(ask, status, run, catalogCmd(cfg),
		answer("accept", consent.Accept, "Accept the owner's counter-offer on a request: the credential is issued for its terms"),
		answer("decline", consent.Decline, "Decline the owner's counter-offer on a request: the request ends denied"))
	return c
}

// writeRun writes a run's artifacts into dir.
func writeRun(dir, credential string, res *requester.Run) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var bundle ledger.Receipt
	if err := json.Unmarshal(res.Job.Receipt, &bundle); err != nil {
		return err
	}
	pretty := func(b []byte) []byte {
		var v any
		if json.Unmarshal(b, &v) != nil {
			return b
		}
		out, _ := json.MarshalIndent(v, "", "  ")
		return append(out, '\n')
	}
	files := map[string][]byte{
		"result.json":      pretty(res.Job.Result),
		"receipt.json":     pretty(res.Job.Receipt),
		"checkpoint.txt":   []byte(bundle.Checkpoint),
		"presentation.jwt": []byte(res.Presentation + "\n"),
		"consent.jwt":      []byte(credential + "\n"),
	}
	for name, b := range files {
		if err := safefile.Write(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func receiptCmd(cfg *Config) *cobra.Command {
	c := &cobra.Command{Use: "receipt", Short: "Verify receipts offline"}
	var vaultDID, laterFile, proofFile string
	verify := &cobra.Command{
		Use:   "verify FILE [--checkpoint LATER.txt --proof CONSISTENCY.json]",
		Short: "Verify a receipt.json offline: signature, log entry, checkpoint, inclusion proof and, given a later checkpoint, consistency",
		Long: `Verify a receipt bundle offline, with nothing but the vault's DID: the
vault's signature on the receipt, that the log entry says what the receipt
says, the vault's signature on the checkpoint, and the Merkle proof that the
entry is in the log. Without --vault, the DID the receipt names is used (that
checks consistency, not who the vault is).

With --checkpoint LATER.txt (a signed checkpoint of the same vault, as
GET /v1/log/checkpoint serves it) it also checks that the log has not been
rewritten since the receipt: that LATER extends the receipt's checkpoint.
When LATER is larger, --proof CONSISTENCY.json is the consistency proof
from the receipt's checkpoint size to LATER's size, as
GET /v1/log/proof/consistency?from=RECEIPT_SIZE&to=LATER_SIZE serves it.
Both files can be fetched by anyone, at any time; the check is offline.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := readLimited(args[0], 1<<20)
			if err != nil {
				return err
			}
			did := vaultDID
			if did == "" {
				if did, err = receiptIssuer(b); err != nil {
					return err
				}
			}
			rc, cp, err := ledger.VerifyReceipt(b, did)
			if err != nil {
				return &trove.Error{Code: trove.EFORBIDDEN, Reason: "bad_receipt", Message: "the receipt does not verify", Err: err}
			}
			fmt.Fprintf(cfg.Stdout, "Receipt %s verifies.\n  vault      %s\n  job        %s\n  consent    %s\n  requester  %s\n  dataset    %s\n  algorithm  %s\n  params     sha256 %s\n  output     sha256 %s\n  rows read  %d\n  log entry  %d, included in the signed checkpoint of size %d\n",
				rc.ID, rc.Vault, rc.JobID, rc.ConsentID, rc.Requester, rc.DatasetDigest, rc.Algorithm, rc.ParamsSHA256, rc.OutputSHA256, rc.RowsRead, rc.LogIndex, cp.Size)
			if rc.Policy != "" {
				fmt.Fprintf(cfg.Stdout, "  policy     %s\n", rc.Policy)
			}
			if rc.DP != nil {
				fmt.Fprintf(cfg.Stdout, "  privacy    ε %g (δ %g) spent by this run; the dataset's budget: ε %g spent, ε %g left\n",
					rc.DP.Epsilon, rc.DP.Delta, rc.DP.SpentEpsilon, rc.DP.LeftEpsilon)
			}
			if laterFile == "" {
				if proofFile != "" {
					return usageError("--proof needs --checkpoint")
				}
				return nil
			}
			later, err := readLimited(laterFile, ledger.MaxCheckpointSize)
			if err != nil {
				return err
			}
			var proof *ledger.Proof
			if proofFile != "" {
				b, err := readLimited(proofFile, ledger.MaxProofSize)
				if err != nil {
					return err
				}
				if proof, err = ledger.ParseProof(b); err != nil {
					return usageError("%s: %v", proofFile, err)
				}
			}
			lcp, err := ledger.VerifyExtends(cp, later, proof, did)
			switch {
			case errors.Is(err, ledger.ErrInconsistent):
				return &trove.Error{Code: trove.EFORBIDDEN, Reason: "log_rewritten", Message: "the later checkpoint does not extend the receipt's: the log was rewritten", Err: err}
			case errors.Is(err, ledger.ErrBadSignature) || errors.Is(err, ledger.ErrWrongVault):
				return &trove.Error{Code: trove.EFORBIDDEN, Reason: "bad_checkpoint", Message: "the later checkpoint is not the vault's", Err: err}
			case err != nil:
				return usageError("%v", err)
			}
			fmt.Fprintf(cfg.Stdout, "  later      the signed checkpoint of size %d extends the receipt's: the log was not rewritten\n", lcp.Size)
			return nil
		},
	}
	verify.Flags().StringVar(&laterFile, "checkpoint", "", "a later signed checkpoint of the vault (file) to check consistency with")
	verify.Flags().StringVar(&proofFile, "proof", "", "the consistency proof (file) from the receipt's checkpoint to --checkpoint")
	c.AddCommand(verify)
	c.PersistentFlags().StringVar(&vaultDID, "vault", "", "the vault's DID to verify against")
	return c
}

// readLimited reads a file of at most max bytes.
func readLimited(path string, max int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, usageError("%v", err)
	}
	if st.Size() > max {
		return nil, trove.Errorf(trove.ETOOLARGE, "%s is over %d bytes", path, max)
	}
	return os.ReadFile(path)
}

// receiptIssuer returns the vault DID a receipt bundle claims, unverified.
func receiptIssuer(bundle []byte) (string, error) {
	var r ledger.Receipt
	if err := json.Unmarshal(bundle, &r); err != nil {
		return "", usageError("not a receipt bundle: %v", err)
	}
	parts := strings.Split(r.Receipt, ".")
	if len(parts) != 3 {
		return "", usageError("not a receipt bundle: the receipt is not a JWS")
	}
	var claims ledger.ReceiptClaims
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(payload, &claims) != nil || claims.Vault == "" {
		return "", usageError("not a receipt bundle: unreadable receipt")
	}
	return claims.Vault, nil
}
