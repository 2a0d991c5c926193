package apidoc_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/internal/apidoc"
)

// docs/api.html is what the committed spec renders to, has every
// operation, and loads nothing from elsewhere.
func TestCommittedReferenceIsCurrent(t *testing.T) {
	want, err := apidoc.Render(api.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", "docs", "api.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/api.html is not what api/openapi.yaml renders to: run go generate ./internal/apidoc")
	}
	page := string(got)
	for _, s := range []string{`<span class="path">/v1/jobs</span>`, `id="op-submitJob"`, `id="op-acknowledgeClaim"`, `id="schema-Problem"`, "https://trove.dev/problems/too_many"} {
		if !strings.Contains(page, s) {
			t.Errorf("the reference lacks %q", s)
		}
	}
	for _, s := range []string{"<script", "<link", "src=", "@import", "url("} {
		if strings.Contains(page, s) {
			t.Errorf("the reference uses an external asset or script: %q", s)
		}
	}
}

func TestRenderRefusesBadInput(t *testing.T) {
	for name, spec := range map[string]string{
		"not yaml":    "{{{",
		"swagger 2":   "swagger: \"2.0\"\n",
		"openapi 3.1": "openapi: 3.1.0\n",
		"empty":       "",
		"too large":   "openapi: 3.0.3\n#" + strings.Repeat("x", apidoc.MaxSpec),
	} {
		if _, err := apidoc.Render([]byte(spec)); err == nil {
			t.Errorf("%s: rendered", name)
		}
	}
}

func FuzzRender(f *testing.F) {
	f.Add(api.OpenAPI)
	f.Add([]byte("openapi: 3.0.0\npaths: {/x: {get: {responses: {default: {$ref: '#/components/responses/Nope'}}}}}\n"))
	f.Fuzz(func(t *testing.T, spec []byte) {
		page, err := apidoc.Render(spec)
		if err == nil && !bytes.HasPrefix(page, []byte("<!doctype html>")) {
			t.Fatal("a page that is not HTML")
		}
	})
}
