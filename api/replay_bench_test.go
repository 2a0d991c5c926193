package api_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/vault"
)

// BenchmarkSignedRequest is one signed request over loopback, signed by
// the client and verified by the server, with the replay memory in the
// process only (nonces=memory, the baseline) and also recorded in the
// vault home's nonces.db (nonces=durable, what `trove serve` runs);
// x-baseline is durable over memory in the same run. Two routes: GET
// /v1/challenge, which itself writes a challenge to vault.db
// (synchronous=FULL), and a read-only GET answered 404, where the
// nonce's write is all the disk work there is. With -count, Go runs
// each sub-benchmark count times in a row, so the baseline is the mean of
// every memory-only run of the route before.
func BenchmarkSignedRequest(b *testing.B) {
	ctx := context.Background()
	home := filepath.Join(b.TempDir(), "vault")
	v, err := vault.Create(ctx, vault.Config{Home: home, WorkFactor: 10}, []byte("pass"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { v.Close() })
	nonces, err := vault.OpenNonces(ctx, vault.NoncesConfig{Home: home})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nonces.Close() })
	key, err := did.Generate(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	serve := func(store api.NonceStore) *api.Server {
		srv := api.NewServer(v, "127.0.0.1:0", nil)
		srv.SetLimits(api.Limits{PerIP: rate.Inf, PerRequester: rate.Inf})
		if store != nil {
			srv.SetNonceStore(store)
		}
		if err := srv.Open(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { srv.Close(context.Background()) })
		return srv
	}
	servers := map[string]*api.Server{"memory": serve(nil), "durable": serve(nonces)}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	seq := 0
	for _, route := range []struct{ name, path string }{{"challenge", "/v1/challenge"}, {"notfound", "/v1/jobs/job_none"}} {
		var baseline []float64
		for _, store := range []string{"memory", "durable"} {
			b.Run(fmt.Sprintf("route=%s/nonces=%s", route.name, store), func(b *testing.B) {
				url := servers[store].URL() + route.path
				b.ReportAllocs()
				for b.Loop() {
					seq++
					req, err := http.NewRequest("GET", url, nil)
					if err != nil {
						b.Fatal(err)
					}
					if err := api.SignRequest(req, nil, key, time.Now(), fmt.Sprintf("bench-nonce-%016d", seq)); err != nil {
						b.Fatal(err)
					}
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
						b.Fatalf("%s: %s", route.path, resp.Status)
					}
				}
				perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				if store == "memory" {
					baseline = append(baseline, perOp)
				} else if len(baseline) > 0 {
					var sum float64
					for _, v := range baseline {
						sum += v
					}
					b.ReportMetric(perOp/(sum/float64(len(baseline))), "x-baseline")
				}
			})
		}
	}
}
