package vault_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/trove-project/trove/vault"
)

// BenchmarkNoncesUse records one signed request's nonce in the store, as
// the API does for every signed request it accepts.
func BenchmarkNoncesUse(b *testing.B) {
	ctx := context.Background()
	n, err := vault.OpenNonces(ctx, vault.NoncesConfig{Home: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		now := time.Now()
		if err := n.Use(ctx, testKeyID, fmt.Sprintf("bench-nonce-%016d", i), now, now.Add(10*time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
}
