// Command sha256file writes the lowercase hex sha256 of a file, and a
// newline, to FILE.sha256, so that go generate records the hash of each
// example module without depending on the shell's tools.
//
// Usage: go run ./internal/sha256file FILE
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: sha256file FILE")
		os.Exit(2)
	}
	b, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "sha256file:", err)
		os.Exit(1)
	}
	sum := sha256.Sum256(b)
	if err := os.WriteFile(os.Args[1]+".sha256", []byte(hex.EncodeToString(sum[:])+"\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "sha256file:", err)
		os.Exit(1)
	}
}
