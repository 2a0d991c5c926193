package examples

import _ "embed" // for the committed modules

//go:generate env GOOS=wasip1 GOARCH=wasm go build -trimpath -buildvcs=false "-ldflags=-s -w -buildid=" -o colstats/colstats.wasm ./colstats
//go:generate go run ./internal/sha256file colstats/colstats.wasm
//go:generate env GOOS=wasip1 GOARCH=wasm go build -trimpath -buildvcs=false "-ldflags=-s -w -buildid=" -o histogram/histogram.wasm ./histogram
//go:generate go run ./internal/sha256file histogram/histogram.wasm
//go:generate env GOOS=wasip1 GOARCH=wasm go build -trimpath -buildvcs=false "-ldflags=-s -w -buildid=" -o logreg/logreg.wasm ./logreg
//go:generate go run ./internal/sha256file logreg/logreg.wasm

//go:embed colstats/colstats.wasm
var colStats []byte

// ColStats returns the colstats module: for each numeric column, its count,
// mean, minimum and maximum. The caller must not modify the bytes.
func ColStats() []byte { return colStats }

//go:embed histogram/histogram.wasm
var histogram []byte

// Histogram returns the histogram module: equal-width bins of each
// numeric column between its min and max, and the level counts of each
// categorical column. The caller must not modify the bytes.
func Histogram() []byte { return histogram }

//go:embed logreg/logreg.wasm
var logReg []byte

// LogReg returns the logreg module: local epochs of binary logistic
// regression from the given global weights, reporting the weight update
// and the sample count. The caller must not modify the bytes.
func LogReg() []byte { return logReg }
