package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/examples"
	"github.com/trove-project/trove/internal/safefile"
	"github.com/trove-project/trove/internal/sampledata"
	"github.com/trove-project/trove/requester"
	"github.com/trove-project/trove/ui"
	"github.com/trove-project/trove/vault"
)

func demoCmd(cfg *Config) *cobra.Command {
	var keep string
	var serve bool
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole flow on a sample dataset: vault, requester, consent, job, receipt, claim",
		Long: `Run trove's whole flow in a temporary directory, unattended: a vault and a
requester talk over real HTTP on 127.0.0.1. The vault imports a sample
dataset (UCI Breast Cancer Wisconsin, CC BY 4.0); the requester asks for
consent to run an example WebAssembly algorithm; the owner approves; the
algorithm runs in the vault's sandbox; the requester receives the result with
a receipt it verifies offline, and the vault records a compensation claim.

--keep DIR keeps both homes (DIR/vault, DIR/requester) and writes the
artifacts to DIR: consent.jwt, presentation.jwt, receipt.json,
checkpoint.txt, result.json. --serve keeps the vault serving afterwards.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cfg, keep, serve)
		},
	}
	c.Flags().StringVar(&keep, "keep", "", "keep the homes and artifacts in this directory")
	c.Flags().BoolVar(&serve, "serve", false, "keep the vault serving after the demo, until interrupted")
	return c
}

func runDemo(ctx context.Context, cfg *Config, keep string, serve bool) error {
	say := func(format string, args ...any) { fmt.Fprintf(cfg.Stdout, format+"\n", args...) }
	dir := keep
	if dir == "" {
		tmp, err := os.MkdirTemp("", "trove-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for _, sub := range []string{"vault", "requester"} {
			if _, err := os.Stat(filepath.Join(dir, sub)); err == nil {
				return trove.Errorf(trove.ECONFLICT, "%s already holds a demo; choose an empty directory", dir)
			}
		}
	}
	pass, err := demoPassphrase()
	if err != nil {
		return err
	}

	say("trove demo: the algorithm comes to the data, the owner decides, every use is logged and paid for.\n")
	say("1. The data owner creates a vault.")
	v, err := vault.Create(ctx, vault.Config{Home: filepath.Join(dir, "vault"), WorkFactor: cfg.WorkFactor}, pass)
	if err != nil {
		return err
	}
	defer v.Close()
	say("   Their identity (a DID): %s", v.DID())
	say("   Their private key is sealed under a passphrase; their data will be encrypted at rest.\n")

	say("2. The owner imports a dataset: %s.", sampledata.BreastCancerAttribution)
	d, err := v.Import(ctx, sampledata.BreastCancerName, bytes.NewReader(sampledata.BreastCancer()), vault.ImportOptions{})
	if err != nil {
		return err
	}
	say("   %q: %d rows, %d columns, stored in encrypted chunks.", d.Name, d.Rows, len(d.Schema))
	say("   Its digest (a Merkle root over the chunks): %s\n", d.Digest)

	nonces, err := vault.OpenNonces(ctx, vault.NoncesConfig{Home: v.Home()})
	if err != nil {
		return err
	}
	defer nonces.Close()
	srv := api.NewServer(v, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	srv.SetNonceStore(nonces)
	metrics := api.NewMetrics(v)
	srv.SetMetrics(metrics)
	if err := srv.Open(); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Close(sctx)
	}()
	say("3. The vault serves its public API at %s.\n", srv.URL())

	say("4. An AI company (the requester) gets its own identity.")
	r, err := requester.Init(filepath.Join(dir, "requester"), pass, requester.Options{WorkFactor: cfg.WorkFactor})
	if err != nil {
		return err
	}
	say("   Requester DID: %s\n", r.DID())
	client, err := api.NewClient(srv.URL(), nil)
	if err != nil {
		return err
	}
	cat, err := client.Catalog(ctx)
	if err != nil {
		return err
	}
	say("5. It reads the vault's catalog: %d dataset(s) on offer, named by digest, no values.", len(cat.Datasets))
	module := examples.ColStats()
	hash := compute.ModuleHash(module)
	price := consent.Money{Amount: 250, Currency: "EUR"}
	say("   It asks for consent to run its algorithm, colstats.wasm (sha256 %s…),", hash[:16])
	say("   3 times on %q, for research, paying 2.50 EUR per run.", d.Name)
	st, err := r.RequestConsent(ctx, client, requester.Ask{
		Dataset: d.Name, Algorithm: hash, Purpose: "Research: summary statistics of tumour measurements",
		PurposeCode: consent.PurposeResearch, MaxRuns: 3, Output: consent.OutputPolicy{Policy: consent.OutputRelease},
		Price: price, Per: consent.PerRun, Validity: 7 * 24 * time.Hour,
	})
	if err != nil {
		return err
	}
	say("   The signed request %s waits for the owner: %s.\n", st.ID, st.State)

	say("6. The owner reviews the request and approves it (what `trove consent approve %s` does).", st.ID)
	if _, err := v.Approve(ctx, st.ID); err != nil {
		return err
	}
	st, cred, err := r.RequestStatus(ctx, client, st.ID)
	if err != nil {
		return err
	}
	say("   A Consent credential %s is issued: signed by the owner, for the requester only,", cred.ID)
	say("   naming the dataset digest, the module's hash, 3 runs, the price, until %s.\n", cred.Expires.Format(time.DateOnly))

	say("7. The requester sends its algorithm to the data. The vault checks the presentation (a fresh")
	say("   single-use challenge), the credential, the module's hash and the runs left, then runs it")
	say("   in a WebAssembly sandbox: no files, no network, limited memory and time.")
	run, err := r.RunJob(ctx, client, st.Credential, module, nil)
	if err != nil {
		return err
	}
	say("   Job %s %s. What left the vault is only the algorithm's output:", run.Job.ID, run.Job.State)
	printColstats(cfg, run.Job.Result)
	say("")

	say("8. With the result came a receipt, checked offline against the vault's DID:")
	say("   signed by the vault, naming the job, consent, dataset digest, module hash and output hash,")
	say("   and proven (Merkle inclusion proof) to be entry %d of the vault's log of %d entries,", run.Receipt.LogIndex, run.Checkpoint.Size)
	say("   whose signed checkpoint the requester keeps to catch any later rewrite of history.\n")

	say("9. The run created a compensation claim:")
	say("   claim %s: %s owed by %s.\n", run.Job.Claim.ID, money(run.Job.Claim.Amount, run.Job.Claim.Currency), run.Job.Claim.Requester)

	say("10. Someone who captured the presentation tries to replay it:")
	_, err = client.SubmitJob(ctx, api.JobBody{Presentation: run.Presentation, Algorithm: hash, Module: module})
	if trove.ErrorCode(err) != trove.EUNAUTHORIZED {
		return fmt.Errorf("the replayed presentation was not refused: %v", err)
	}
	say("    refused: the request is not signed by the requester's key (%s).", trove.ErrorReason(err))
	_, err = r.Signed(client).SubmitJob(ctx, api.JobBody{Presentation: run.Presentation, Algorithm: hash, Module: module})
	if trove.ErrorCode(err) != trove.EFORBIDDEN {
		return fmt.Errorf("the replayed presentation was not refused: %v", err)
	}
	say("    Even the requester itself cannot use the presentation twice: refused (%s),", trove.ErrorReason(err))
	say("    and the refusal is in the log too.\n")

	n, err := v.VerifyLog(ctx)
	if err != nil {
		return fmt.Errorf("the vault's log does not verify: %w", err)
	}
	say("The vault's log verifies: %d entries, every checkpoint matches.", n)

	if keep != "" {
		if err := writeRun(dir, st.Credential, run); err != nil {
			return err
		}
		if err := safefile.Write(filepath.Join(dir, "PASSPHRASE"), append(pass, '\n'), 0o600); err != nil {
			return err
		}
		say("\nKept in %s: vault/ and requester/ (passphrase in PASSPHRASE), consent.jwt,", dir)
		say("presentation.jwt, receipt.json, checkpoint.txt, result.json. Try:")
		say("  trove receipt verify %s --vault %s", filepath.Join(dir, "receipt.json"), v.DID())
		say("  TROVE_PASSPHRASE=$(cat %s) trove --home %s log verify", filepath.Join(dir, "PASSPHRASE"), filepath.Join(dir, "vault"))
	}
	if serve {
		uiSrv, err := ui.NewServer(v, ui.Config{Addr: "127.0.0.1:0", LinkFile: filepath.Join(v.Home(), ui.LinkFileName), Metrics: metrics.Handler()})
		if err != nil {
			return err
		}
		if err := uiSrv.Open(); err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			uiSrv.Close(sctx)
		}()
		say("\nThe vault keeps serving at %s (DID %s). Press Ctrl-C to stop.", srv.URL(), v.DID())
		say("The owner's UI is at %s; sign in (once) with: %s", uiSrv.URL(), uiSrv.LoginLink())
		<-ctx.Done()
		if !errors.Is(ctx.Err(), context.Canceled) {
			return ctx.Err()
		}
	}
	return nil
}

// demoPassphrase makes the demo's passphrase: the demo never prompts.
func demoPassphrase() ([]byte, error) {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	return []byte(base64.RawURLEncoding.EncodeToString(b[:])), nil
}

// printColstats prints the first columns of a colstats result.
func printColstats(cfg *Config, result []byte) {
	var res struct {
		Rows    int `json:"rows"`
		Columns []struct {
			Name  string  `json:"name"`
			Count int     `json:"count"`
			Mean  float64 `json:"mean"`
			Min   float64 `json:"min"`
			Max   float64 `json:"max"`
		} `json:"columns"`
	}
	if err := json.Unmarshal(result, &res); err != nil {
		fmt.Fprintf(cfg.Stdout, "   %s\n", result)
		return
	}
	for i, c := range res.Columns {
		if i == 4 {
			fmt.Fprintf(cfg.Stdout, "     … and %d more columns\n", len(res.Columns)-i)
			break
		}
		fmt.Fprintf(cfg.Stdout, "     %-18s mean %10.4f  min %10.4f  max %10.4f  (n=%d)\n", c.Name, c.Mean, c.Min, c.Max, c.Count)
	}
}
