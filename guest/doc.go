// Package guest is the Go SDK for algorithms that run in a trove vault.
//
// Build an algorithm as a WASI preview 1 command:
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -o algo.wasm ./algo
//
// The vault starts the module with the table the consent allows on stdin
// and reads one JSON document from stdout; exit code 0 means success. There
// is no filesystem, no environment, no network, and the clocks are fake;
// randomness is seeded from the job id, so a run can be replayed.
//
//	f, err := guest.Read()
//	...
//	for i := range f.Columns {
//		c := &f.Columns[i]
//		if c.Kind == guest.Float {
//			xs := c.Floats() // a view of the frame, no copy
//			...
//		}
//	}
//	guest.WriteResult(result)
//
// # Input frame
//
// stdin holds one frame:
//
//	offset 0   "TRV1"                     magic
//	offset 4   uint32 little-endian H     length of the JSON header
//	offset 8   H bytes of JSON header
//	           zero bytes up to the next multiple of 8 (from frame start)
//	           each column in header order, each starting 8-byte aligned:
//	             float                N float64, little-endian
//	             integer, timestamp   N int64, little-endian (timestamps in Unix ns, UTC)
//	             categorical          N uint32 codes, little-endian, indexes into levels,
//	                                  then zero bytes up to a multiple of 8
//
// with the header
//
//	{"rows":N,"columns":[{"name":"...","kind":"float|integer|categorical|timestamp",
//	  "levels":["..."]}],"params":{...} or null}
//
// Read allocates one buffer for all the columns, sized from the header, and
// reads it in one go; the column accessors reinterpret that buffer in place
// (WebAssembly is little-endian and every column is 8-byte aligned). That is
// the fast path, and the only one: decoding values one by one is many times
// slower inside the sandbox.
//
// This package imports nothing else from trove, to keep modules small.
package guest
