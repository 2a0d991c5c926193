package examples

import _ "embed" // for the committed modules

//go:generate env GOOS=wasip1 GOARCH=wasm go build -trimpath -buildvcs=false "-ldflags=-s -w -buildid=" -o colstats/colstats.wasm ./colstats
//go:generate go run ./internal/sha256file colstats/colstats.wasm

//go:embed colstats/colstats.wasm
var colStats []byte

// ColStats returns the colstats module: for each numeric column, its count,
// mean, minimum and maximum. The caller must not modify the bytes.
func ColStats() []byte { return colStats }
