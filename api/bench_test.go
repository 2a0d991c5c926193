package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/api/apigen"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/dataset"
	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

const benchRows = 10000

// benchCSV is a benchRows × 4 CSV of floats with a fixed seed.
func benchCSV() []byte {
	r := mrand.New(mrand.NewPCG(1, 2))
	var b bytes.Buffer
	b.WriteString("a,b,c,d\n")
	for range benchRows {
		fmt.Fprintf(&b, "%.6g,%.6g,%.6g,%.6g\n", r.NormFloat64()*100, r.NormFloat64(), r.Float64()*1e4, r.NormFloat64()*3+7)
	}
	return b.Bytes()
}

// benchVault is a vault serving a benchRows dataset over loopback, a
// requester key and the generated client.
type benchVault struct {
	b      *testing.B
	ctx    context.Context
	vault  *vault.Vault
	key    *did.Key
	client *apigen.ClientWithResponses
	mu     sync.Mutex
	cred   string
	left   int
	seq    int
}

func newBenchVault(b *testing.B) *benchVault {
	b.Helper()
	ctx := context.Background()
	v, err := vault.Create(ctx, vault.Config{Home: filepath.Join(b.TempDir(), "vault"), WorkFactor: 10}, []byte("pass"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { v.Close() })
	if _, err := v.Import(ctx, "bench", bytes.NewReader(benchCSV()), vault.ImportOptions{}); err != nil {
		b.Fatal(err)
	}
	srv := api.NewServer(v, "127.0.0.1:0", nil)
	// The benchmark measures a job's cost, not the rate limits; 8
	// clients may upload at once.
	srv.SetLimits(api.Limits{PerIP: rate.Inf, PerRequester: rate.Inf, Uploads: 8})
	if err := srv.Open(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close(context.Background()) })
	key, err := did.Generate(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: time.Minute}
	client, err := api.NewGenerated(srv.URL(), hc, api.SignWith(key, nil, nil))
	if err != nil {
		b.Fatal(err)
	}
	return &benchVault{b: b, ctx: ctx, vault: v, key: key, client: client}
}

// credential returns a consent credential with a run left, asking for
// and approving a new one when the last is used up.
func (bv *benchVault) credential() (string, error) {
	bv.mu.Lock()
	defer bv.mu.Unlock()
	if bv.left > 0 {
		bv.left--
		return bv.cred, nil
	}
	now := time.Now().UTC()
	bv.seq++
	id := fmt.Sprintf("req-bench-%d", bv.seq)
	token, err := consent.SignRequest(bv.key, consent.Request{
		ID: id, Requester: bv.key.DID(), Vault: bv.vault.DID(), Dataset: "bench", Algorithm: "builtin:stats@1",
		Purpose: "benchmark", PurposeCode: consent.PurposeResearch, MaxRuns: consent.MaxRuns,
		Output: consent.OutputPolicy{Policy: consent.OutputRelease}, Price: consent.Money{Amount: 1, Currency: "EUR"}, Per: consent.PerRun,
		ExpiresAt: now.Add(time.Hour), CreatedAt: now,
	}, now)
	if err != nil {
		return "", err
	}
	resp, err := bv.client.SubmitConsentRequestWithResponse(bv.ctx, apigen.ConsentRequestBody{Request: token})
	if err != nil || resp.JSON201 == nil {
		return "", fmt.Errorf("consent request: %v %s", err, resp.Body)
	}
	if _, err := bv.vault.Approve(bv.ctx, id); err != nil {
		return "", err
	}
	st, err := bv.client.GetConsentRequestWithResponse(bv.ctx, id)
	if err != nil || st.JSON200 == nil || st.JSON200.Credential == nil {
		return "", fmt.Errorf("consent: %v %s", err, st.Body)
	}
	bv.cred, bv.left = *st.JSON200.Credential, consent.MaxRuns-1
	return bv.cred, nil
}

// roundTrip runs one job through the generated client: challenge,
// presentation, job, receipt verified against the result.
func (bv *benchVault) roundTrip() error {
	cred, err := bv.credential()
	if err != nil {
		return err
	}
	ch, err := bv.client.GetChallengeWithResponse(bv.ctx)
	if err != nil || ch.JSON200 == nil {
		return fmt.Errorf("challenge: %v %s", err, ch.Body)
	}
	vp, err := consent.Present(bv.key, cred, ch.JSON200.Nonce, ch.JSON200.Audience, time.Now(), 5*time.Minute)
	if err != nil {
		return err
	}
	resp, err := bv.client.SubmitJobWithResponse(bv.ctx, apigen.JobBody{Presentation: vp, Algorithm: "builtin:stats@1"})
	if err != nil || resp.JSON201 == nil {
		return fmt.Errorf("job: %v %s", err, resp.Body)
	}
	job := resp.JSON201
	if job.State != vault.JobSucceeded || job.Receipt == nil {
		return fmt.Errorf("job %s: %v", job.State, job.Reason)
	}
	bundle, err := json.Marshal(job.Receipt)
	if err != nil {
		return err
	}
	rc, _, err := ledger.VerifyReceipt(bundle, ch.JSON200.Audience)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(job.Result)
	if rc.OutputSHA256 != hex.EncodeToString(sum[:]) || rc.JobID != job.Id || rc.Requester != bv.key.DID() {
		return fmt.Errorf("the receipt does not describe the job")
	}
	return nil
}

// statsDirect runs builtin:stats@1 in process on the same table.
func statsDirect(b *testing.B) {
	t, err := dataset.ReadCSV(bytes.NewReader(benchCSV()), dataset.ReadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := compute.RunBuiltin(ctx, "builtin:stats@1", compute.Input{JobID: fmt.Sprint("job-", i), Table: t}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStatsDirect is the floor of a job: the built-in statistics on
// benchRows rows, called in process.
func BenchmarkStatsDirect(b *testing.B) { statsDirect(b) }

// BenchmarkJobRoundTrip is a whole job through the generated client over
// loopback (challenge, presentation, builtin:stats@1 on benchRows rows,
// receipt verified), beside its floor BenchmarkStatsDirect run as a
// sub-benchmark; x-baseline is the ratio. The concurrent case reports
// jobs/s with 8 clients.
func BenchmarkJobRoundTrip(b *testing.B) {
	var direct float64
	b.Run("baseline=StatsDirect", func(b *testing.B) {
		statsDirect(b)
		direct = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	bv := newBenchVault(b)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := bv.roundTrip(); err != nil {
				b.Fatal(err)
			}
		}
		perJob := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		if direct > 0 {
			b.ReportMetric(perJob/direct, "x-baseline")
		}
	})
	b.Run("clients=8", func(b *testing.B) {
		b.ReportAllocs()
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		start := time.Now()
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(b.N) {
					if err := bv.roundTrip(); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	})
}
