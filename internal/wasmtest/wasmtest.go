package wasmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Build compiles the Go main package in dir for GOOS=wasip1 GOARCH=wasm
// and returns the module. It costs seconds: cache the result.
func Build(dir string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "trove-wasmtest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "module.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build %s for wasip1: %w\n%s", dir, err, msg)
	}
	return os.ReadFile(out)
}

// Trap returns a WASI command module whose _start executes `unreachable`:
// it traps as soon as it starts.
func Trap() []byte {
	return []byte{
		0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
		0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: func() -> ()
		0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
		0x05, 0x03, 0x01, 0x00, 0x01, // memory section: one memory, min 1 page
		0x07, 0x13, 0x02, // export section: two exports
		0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00, // _start = func 0
		0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00, // memory = memory 0
		0x0a, 0x05, 0x01, 0x03, 0x00, 0x00, 0x0b, // code: no locals, unreachable, end
	}
}

// WithCustomSection returns module with a custom section of size payload
// bytes appended: the same code, a larger binary.
func WithCustomSection(module []byte, size int) []byte {
	body := append([]byte{1, 'x'}, make([]byte, size)...)
	out := append(append([]byte(nil), module...), 0x00)
	out = appendLEB(out, uint32(len(body)))
	return append(out, body...)
}

func appendLEB(b []byte, x uint32) []byte {
	for {
		c := byte(x & 0x7f)
		x >>= 7
		if x == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
