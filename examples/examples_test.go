package examples

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommittedModulesMatchSource rebuilds each example exactly as go
// generate does and compares it with the committed module, so that a
// requester who pins a module's hash pins its source.
func TestCommittedModulesMatchSource(t *testing.T) {
	for name, committed := range map[string][]byte{"colstats": ColStats(), "histogram": Histogram(), "logreg": LogReg()} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), name+".wasm")
			cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out, "./"+name)
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("build %s: %v\n%s", name, err, msg)
			}
			built, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(built, committed) {
				t.Fatalf("%s/%s.wasm does not match its source (sha256 %s built, %s committed): run go generate ./examples/",
					name, name, hash(built), hash(committed))
			}
			recorded, err := os.ReadFile(filepath.Join(name, name+".wasm.sha256"))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(recorded)); got != hash(committed) {
				t.Fatalf("%s/%s.wasm.sha256 says %s, the module's is %s: run go generate ./examples/", name, name, got, hash(committed))
			}
		})
	}
}

func hash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
