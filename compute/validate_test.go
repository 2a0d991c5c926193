package compute

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/trove-project/trove/examples"
)

// wasm assembles a module by hand, so that each rule of Validate can be
// tested against a module that breaks it and nothing else.
type wasm struct {
	imports  [][]byte // import entries, already encoded
	exports  [][]byte // export entries, already encoded
	noMemory bool
}

const (
	typeVoid    = 0 // () -> ()
	typeI32Void = 1 // (i32) -> ()
)

func wasmName(s string) []byte { return append([]byte{byte(len(s))}, s...) }

func wasmSection(id byte, body []byte) []byte {
	return append([]byte{id, byte(len(body))}, body...) // bodies here are < 128 bytes
}

func wasmVec(items [][]byte) []byte {
	out := []byte{byte(len(items))}
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func importFunc(mod, name string, typ byte) []byte {
	return append(append(wasmName(mod), wasmName(name)...), 0x00, typ)
}

func importMemory(mod, name string) []byte {
	return append(append(wasmName(mod), wasmName(name)...), 0x02, 0x00, 0x01)
}

func export(name string, kind, index byte) []byte { return append(wasmName(name), kind, index) }

// command returns a valid WASI command that imports proc_exit and whose
// _start does nothing.
func command() wasm {
	return wasm{
		imports: [][]byte{importFunc("wasi_snapshot_preview1", "proc_exit", typeI32Void)},
		exports: [][]byte{export("_start", 0x00, 1), export("memory", 0x02, 0)},
	}
}

func (w wasm) bytes() []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, wasmSection(1, wasmVec([][]byte{{0x60, 0, 0}, {0x60, 1, 0x7f, 0}}))...)
	if len(w.imports) > 0 {
		b = append(b, wasmSection(2, wasmVec(w.imports))...)
	}
	b = append(b, wasmSection(3, wasmVec([][]byte{{typeVoid}}))...)
	if !w.noMemory {
		b = append(b, wasmSection(5, wasmVec([][]byte{{0x00, 0x01}}))...)
	}
	b = append(b, wasmSection(7, wasmVec(w.exports))...)
	b = append(b, wasmSection(10, wasmVec([][]byte{{0x02, 0x00, 0x0b}}))...)
	return b
}

func TestValidate(t *testing.T) {
	good := command().bytes()
	if err := Validate(good, 1<<20); err != nil {
		t.Fatalf("valid command refused: %v", err)
	}
	with := func(f func(*wasm)) []byte { w := command(); f(&w); return w.bytes() }
	tests := []struct {
		name   string
		module []byte
		max    int
		want   string // in the error
	}{
		{"over the size cap", good, len(good) - 1, "over the limit"},
		{"not wasm", []byte("#!/bin/sh\nrm -rf /\n"), 1 << 20, "not a WebAssembly"},
		{"truncated", good[:20], 1 << 20, "truncated"},
		{"import from env", with(func(w *wasm) {
			w.imports = append(w.imports, importFunc("env", "sneaky", typeVoid))
			w.exports[0] = export("_start", 0, 2)
		}), 1 << 20, `"sneaky" from module "env"`},
		{"unknown WASI function", with(func(w *wasm) {
			w.imports = append(w.imports, importFunc("wasi_snapshot_preview1", "sock_open", typeVoid))
			w.exports[0] = export("_start", 0, 2)
		}), 1 << 20, `"sock_open", which is not a WASI`},
		{"imported memory", with(func(w *wasm) {
			w.imports = append(w.imports, importMemory("wasi_snapshot_preview1", "memory"))
			w.noMemory = true
		}), 1 << 20, `imports a memory "memory"`},
		{"wrong WASI signature", with(func(w *wasm) {
			w.imports[0] = importFunc("wasi_snapshot_preview1", "proc_exit", typeVoid)
		}), 1 << 20, `"proc_exit" with the wrong signature`},
		{"no _start (a reactor)", with(func(w *wasm) { w.exports[0] = export("run", 0, 1) }), 1 << 20, "no _start"},
		{"no memory export", with(func(w *wasm) { w.exports = w.exports[:1] }), 1 << 20, "no memory"},
		{"invalid code", append(good[:len(good)-1:len(good)-1], 0x00), 1 << 20, "does not compile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.module, tt.max)
			if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalidModule saying %q", err, tt.want)
			}
		})
	}
}

// Run makes the same checks as Validate before it compiles.
func TestRunValidates(t *testing.T) {
	s := newTestSandbox(t, nil)
	w := command()
	w.imports = append(w.imports, importFunc("env", "sneaky", typeVoid))
	w.exports[0] = export("_start", 0, 2)
	_, err := s.Run(context.Background(), w.bytes(), Input{JobID: "j", Table: sampleTable(1)})
	if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "sneaky") {
		t.Fatalf("err = %v, want ErrInvalidModule naming the import", err)
	}
	// A valid command that writes nothing has no result.
	out, err := s.Run(context.Background(), command().bytes(), Input{JobID: "j", Table: sampleTable(1)})
	if !errors.Is(err, ErrBadOutput) || out == nil {
		t.Fatalf("err = %v, out = %v, want ErrBadOutput with an output", err, out)
	}
}

// Real modules from the Go toolchain pass.
func TestValidateGoModules(t *testing.T) {
	for name, module := range map[string][]byte{"colstats": examples.ColStats(), "noop": testModule(t, "noop")} {
		if err := Validate(module, DefaultConfig().MaxModuleSize); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestModuleHash(t *testing.T) {
	// sha256("abc"), from FIPS 180-2.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := ModuleHash([]byte("abc")); got != want {
		t.Fatalf("ModuleHash = %s, want %s", got, want)
	}
}

func FuzzCheckImports(f *testing.F) {
	f.Add(command().bytes())
	w := command()
	w.imports = append(w.imports, importMemory("env", "m"))
	f.Add(w.bytes())
	f.Fuzz(func(t *testing.T, module []byte) {
		_ = checkImports(module, func(name string) bool { return name == "proc_exit" })
	})
}
