package vault_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

func TestLogEntriesFilters(t *testing.T) {
	ctx := context.Background()
	v := MustCreate(t, vault.Config{})
	for _, name := range []string{"alpha", "beta"} {
		if _, err := v.Import(ctx, name, strings.NewReader("x,y\n1,2\n3,4\n"), vault.ImportOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.RecordLogin(ctx); err != nil {
		t.Fatal(err)
	}
	if err := v.RemoveDataset(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	all, err := v.LogEntries(ctx, vault.LogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range all {
		types = append(types, string(e.Entry.Type))
	}
	if got := strings.Join(types, " "); got != "dataset.deleted owner.login dataset.imported dataset.imported" {
		t.Fatalf("all entries, newest first: %s", got)
	}
	if b, err := v.LogEntry(ctx, all[0].Index); err != nil || string(b) != string(all[0].Raw) {
		t.Fatalf("entry %d's bytes differ from the log's: %v", all[0].Index, err)
	}
	cases := []struct {
		name string
		f    vault.LogFilter
		want []uint64
	}{
		{"by type", vault.LogFilter{Type: ledger.DatasetImported}, []uint64{1, 0}},
		{"by dataset", vault.LogFilter{Dataset: "alpha"}, []uint64{3, 0}},
		{"by subject", vault.LogFilter{Requester: v.DID()}, []uint64{3, 2, 1, 0}},
		{"by another subject", vault.LogFilter{Requester: "did:key:nobody"}, nil},
		{"before", vault.LogFilter{Before: 2}, []uint64{1, 0}},
		{"limit", vault.LogFilter{Limit: 1}, []uint64{3}},
		{"combined", vault.LogFilter{Type: ledger.DatasetImported, Dataset: "beta"}, []uint64{1}},
	}
	for _, tc := range cases {
		es, err := v.LogEntries(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got []uint64
		for _, e := range es {
			got = append(got, e.Index)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := v.LogEntries(ctx, vault.LogFilter{Type: "made.up"}); trove.ErrorCode(err) != trove.EINVALID {
		t.Fatalf("unknown type: %v", err)
	}
}
