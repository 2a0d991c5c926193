package vault_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/dataset"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

const smallCSV = "age,weight,city,visited\n34,70.5,Lyon,2024-01-02\n51,82.25,Lille,2024-03-04\n29,61,Lyon,2025-05-06\n"

func TestImportListLoad(t *testing.T) {
	ctx := context.Background()
	v := MustCreate(t, vault.Config{ChunkRows: 2})
	d, err := v.Import(ctx, "health", strings.NewReader(smallCSV), vault.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Rows != 3 || len(d.Schema) != 4 || len(d.Digest) != 64 {
		t.Fatalf("imported %+v", d)
	}
	wantKinds := []dataset.Kind{dataset.Integer, dataset.Float, dataset.Categorical, dataset.Timestamp}
	for i, f := range d.Schema {
		if f.Kind != wantKinds[i] {
			t.Errorf("column %s: kind %s, want %s", f.Name, f.Kind, wantKinds[i])
		}
	}
	ds, err := v.Datasets(ctx)
	if err != nil || len(ds) != 1 || ds[0].Digest != d.Digest {
		t.Fatalf("list: %+v, %v", ds, err)
	}
	tab, err := vault.LoadTable(v, ctx, "health", d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	want, err := dataset.ReadCSV(strings.NewReader(smallCSV), dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(tab) != fmt.Sprint(want) {
		t.Fatalf("loaded %v\nwant   %v", tab, want)
	}
	if e := lastEntry(t, v); e.Type != ledger.DatasetImported || e.Fields["digest"] != d.Digest {
		t.Fatalf("log entry %+v", e)
	}
}

func TestDigestIsDeterministicAndBindsContent(t *testing.T) {
	ctx := context.Background()
	a := MustCreate(t, vault.Config{})
	b := MustCreate(t, vault.Config{})
	da, err := a.Import(ctx, "d", strings.NewReader(smallCSV), vault.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := b.Import(ctx, "d", strings.NewReader(smallCSV), vault.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if da.Digest != db.Digest {
		t.Fatalf("the same file has digests %s and %s", da.Digest, db.Digest)
	}
	changed := strings.Replace(smallCSV, "70.5", "70.6", 1)
	dc, err := b.Import(ctx, "e", strings.NewReader(changed), vault.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	renamed := strings.Replace(smallCSV, "age", "years", 1)
	dr, err := b.Import(ctx, "f", strings.NewReader(renamed), vault.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if dc.Digest == da.Digest || dr.Digest == da.Digest {
		t.Fatal("a changed value or a renamed column kept the digest")
	}
}

func TestImportTypeOverride(t *testing.T) {
	v := MustCreate(t, vault.Config{})
	d, err := v.Import(context.Background(), "d", strings.NewReader(smallCSV), vault.ImportOptions{Types: map[string]dataset.Kind{"age": dataset.Float}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Schema[0].Kind != dataset.Float {
		t.Fatalf("age is %s, want float", d.Schema[0].Kind)
	}
}

// A malformed file is refused with its line and column, and nothing of it
// is stored: no dataset, no chunk, no log entry.
func TestMalformedCSVStoresNothing(t *testing.T) {
	cases := map[string]struct{ csv, want string }{
		"ragged row":      {"a,b\n1,2\n3\n", "line 3"},
		"bad number":      {"a,b\n1,2\n3,x\n", "line 3"},
		"empty header":    {"a,,c\n1,2,3\n", "column 2"},
		"duplicate name":  {"a,b,a\n1,2,3\n", "column 3"},
		"no rows":         {"a,b\n", ""},
		"empty file":      {"", ""},
		"unterminated qt": {"a,b\n1,\"2\n", "line"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			v := MustCreate(t, vault.Config{})
			opts := vault.ImportOptions{}
			if name == "bad number" {
				opts.Types = map[string]dataset.Kind{"b": dataset.Integer}
			}
			_, err := v.Import(ctx, "d", strings.NewReader(tc.csv), opts)
			if trove.ErrorCode(err) != trove.EINVALID {
				t.Fatalf("import: %v, want invalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if ds, _ := v.Datasets(ctx); len(ds) != 0 {
				t.Errorf("a dataset was stored: %+v", ds)
			}
			if n, _ := v.LogSize(ctx); n != 0 {
				t.Errorf("the log holds %d entries", n)
			}
		})
	}
}

func TestImportOverSizeLimit(t *testing.T) {
	v := MustCreate(t, vault.Config{MaxImportBytes: 64})
	_, err := v.Import(context.Background(), "d", strings.NewReader("a\n"+strings.Repeat("1\n", 100)), vault.ImportOptions{})
	if trove.ErrorCode(err) != trove.ETOOLARGE || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("oversized import: %v", err)
	}
}

func TestImportRefusesDuplicateAndBadNames(t *testing.T) {
	ctx := context.Background()
	v := MustCreate(t, vault.Config{})
	if _, err := v.Import(ctx, "d", strings.NewReader(smallCSV), vault.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Import(ctx, "d", strings.NewReader(smallCSV), vault.ImportOptions{}); trove.ErrorCode(err) != trove.ECONFLICT {
		t.Fatalf("second import under one name: %v", err)
	}
	for _, bad := range []string{"", "../x", "a b", strings.Repeat("x", 65), "-x"} {
		if _, err := v.Import(ctx, bad, strings.NewReader(smallCSV), vault.ImportOptions{}); trove.ErrorCode(err) != trove.EINVALID {
			t.Errorf("name %q: %v", bad, err)
		}
	}
}

func TestValuesAreEncryptedAtRest(t *testing.T) {
	ctx := context.Background()
	v := MustCreate(t, vault.Config{})
	secret := "Zanzibar-Quokka-7731"
	csv := "name,score\n" + secret + ",1\nother,2\n"
	if _, err := v.Import(ctx, "d", strings.NewReader(csv), vault.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	v.Close()
	for _, f := range []string{vault.DatabaseFile, vault.DatabaseFile + "-wal"} {
		b, err := os.ReadFile(filepath.Join(v.Home(), f))
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Fatalf("%s holds a value in the clear", f)
		}
	}
}

func TestTamperedChunkIsDetected(t *testing.T) {
	ctx := context.Background()
	v := MustCreate(t, vault.Config{})
	d, err := v.Import(ctx, "d", strings.NewReader(smallCSV), vault.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := vault.TamperChunk(ctx, v, "d"); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.LoadTable(v, ctx, "d", d.Digest); err == nil || strings.Contains(err.Error(), "Lyon") {
		t.Fatalf("load of a tampered chunk: %v", err)
	}
}

func TestRemoveDatasetIsLogged(t *testing.T) {
	ctx := context.Background()
	v := MustCreate(t, vault.Config{})
	if _, err := v.Import(ctx, "d", strings.NewReader(smallCSV), vault.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := v.RemoveDataset(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	if ds, _ := v.Datasets(ctx); len(ds) != 0 {
		t.Fatal("the dataset is still listed")
	}
	if e := lastEntry(t, v); e.Type != ledger.DatasetDeleted {
		t.Fatalf("last entry %s", e.Type)
	}
	if err := v.RemoveDataset(ctx, "d"); trove.ErrorCode(err) != trove.ENOTFOUND {
		t.Fatalf("second removal: %v", err)
	}
}

// numericCSV makes a rows × cols CSV of floats with a fixed seed.
func numericCSV(rows, cols int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for c := range cols {
		if c > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "c%d", c)
	}
	b.WriteByte('\n')
	for range rows {
		for c := range cols {
			if c > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%.6g", r.NormFloat64()*100)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func TestImportTable(t *testing.T) {
	ctx := context.Background()
	v := MustCreate(t, vault.Config{})
	tab, err := dataset.ReadCSV(strings.NewReader(smallCSV), dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fromTable, err := v.ImportTable(ctx, "a", tab.Take([]int{0, 1, 2}))
	if err != nil {
		t.Fatal(err)
	}
	fromCSV, err := v.Import(ctx, "b", strings.NewReader(smallCSV), vault.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fromTable.Digest != fromCSV.Digest {
		t.Fatal("the same table imported two ways has two digests")
	}
	if _, err := v.ImportTable(ctx, "a", tab); trove.ErrorCode(err) != trove.ECONFLICT {
		t.Fatalf("second import under one name: %v", err)
	}
	bad := tab.Take([]int{0})
	bad.Rows = 5
	if _, err := v.ImportTable(ctx, "c", bad); trove.ErrorCode(err) != trove.EINVALID {
		t.Fatalf("inconsistent table: %v", err)
	}
}
