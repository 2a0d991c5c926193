package compute

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// ModuleHash returns the identity of a module as a consent names it: the
// lowercase hex sha256 of its bytes.
func ModuleHash(module []byte) string {
	sum := sha256.Sum256(module)
	return hex.EncodeToString(sum[:])
}

// Validate checks that module is at most maxSize bytes, is a WASI preview 1
// command module (it exports _start and memory) and imports only functions
// of wasi_snapshot_preview1 that wazero provides. It compiles the module to
// check it, in a throwaway interpreter runtime, so it costs about as much as
// a compilation; a Sandbox makes the same checks before it compiles a
// module for a job. The error matches ErrInvalidModule and names the
// offending import or export.
func Validate(module []byte, maxSize int) error {
	if err := checkSize(module, maxSize); err != nil {
		return err
	}
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	wasi, err := wasi_snapshot_preview1.NewBuilder(r).Compile(ctx)
	if err != nil {
		return fmt.Errorf("validate module: compile WASI: %w", err)
	}
	return checkModule(ctx, r, module, wasi.ExportedFunctions(), func(wazero.CompiledModule) {})
}

// checkModule checks module's imports against wasi, compiles it in r and
// checks its exports and the signatures of its imports. keep receives the
// compiled module when all is well; otherwise it is closed.
func checkModule(ctx context.Context, r wazero.Runtime, module []byte, wasi map[string]api.FunctionDefinition, keep func(wazero.CompiledModule)) error {
	if err := checkImports(module, func(name string) bool { _, ok := wasi[name]; return ok }); err != nil {
		return err
	}
	c, err := r.CompileModule(ctx, module)
	if err != nil {
		return fmt.Errorf("%w: does not compile: %w", ErrInvalidModule, err)
	}
	if err := checkCompiled(c, wasi); err != nil {
		_ = c.Close(ctx)
		return err
	}
	keep(c)
	return nil
}

func checkSize(module []byte, maxSize int) error {
	if len(module) > maxSize {
		return fmt.Errorf("%w: %d bytes is over the limit of %d", ErrInvalidModule, len(module), maxSize)
	}
	return nil
}

// checkCompiled checks that a compiled module is a WASI command and that
// it imports WASI functions with their true signatures.
func checkCompiled(c wazero.CompiledModule, wasi map[string]api.FunctionDefinition) error {
	for _, f := range c.ImportedFunctions() {
		_, name, _ := f.Import()
		want := wasi[name]
		if !slices.Equal(f.ParamTypes(), want.ParamTypes()) || !slices.Equal(f.ResultTypes(), want.ResultTypes()) {
			return fmt.Errorf("%w: imports %s.%q with the wrong signature", ErrInvalidModule, wasi_snapshot_preview1.ModuleName, name)
		}
	}
	start, ok := c.ExportedFunctions()["_start"]
	if !ok {
		return fmt.Errorf("%w: exports no _start function (it must be a WASI command, not a reactor or library)", ErrInvalidModule)
	}
	if len(start.ParamTypes()) != 0 || len(start.ResultTypes()) != 0 {
		return fmt.Errorf("%w: _start must take and return nothing", ErrInvalidModule)
	}
	if _, ok := c.ExportedMemories()["memory"]; !ok {
		return fmt.Errorf("%w: exports no memory", ErrInvalidModule)
	}
	return nil
}

// checkImports reads the import section of a WebAssembly binary and
// refuses any import that is not a function of wasi_snapshot_preview1
// for which provided returns true. It reads no further than the import
// section; the compiler checks the rest.
func checkImports(module []byte, provided func(name string) bool) error {
	r := wasmReader{b: module}
	if magic := r.bytes(8); string(magic) != "\x00asm\x01\x00\x00\x00" {
		return fmt.Errorf("%w: not a WebAssembly 1.0 binary", ErrInvalidModule)
	}
	for r.err == nil && len(r.b) > 0 {
		id := r.byte()
		size := r.u32()
		body := r.bytes(int(size))
		if r.err != nil {
			break
		}
		if id != 2 { // not the import section
			continue
		}
		s := wasmReader{b: body}
		n := s.u32()
		for i := uint32(0); i < n && s.err == nil; i++ {
			mod, name, kind := s.name(), s.name(), s.byte()
			if s.err != nil {
				break
			}
			if mod != wasi_snapshot_preview1.ModuleName {
				return fmt.Errorf("%w: imports %q from module %q (only wasi_snapshot_preview1 is provided)", ErrInvalidModule, name, mod)
			}
			if kind != 0 {
				return fmt.Errorf("%w: imports %s %q from %s (only functions are provided)", ErrInvalidModule, importKind(kind), name, mod)
			}
			if !provided(name) {
				return fmt.Errorf("%w: imports %s.%q, which is not a WASI preview 1 function", ErrInvalidModule, mod, name)
			}
			s.u32() // type index
		}
		if s.err != nil {
			return fmt.Errorf("%w: import section: %w", ErrInvalidModule, s.err)
		}
	}
	if r.err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidModule, r.err)
	}
	return nil
}

func importKind(k byte) string {
	switch k {
	case 1:
		return "a table"
	case 2:
		return "a memory"
	case 3:
		return "a global"
	case 4:
		return "a tag"
	}
	return fmt.Sprintf("something of kind %d", k)
}

// wasmReader reads a WebAssembly binary; after the first error every read
// returns a zero value and err keeps that first error.
type wasmReader struct {
	b   []byte
	err error
}

var errTruncated = errors.New("truncated binary")

func (r *wasmReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *wasmReader) byte() byte {
	if len(r.b) == 0 {
		r.fail(errTruncated)
		return 0
	}
	x := r.b[0]
	r.b = r.b[1:]
	return x
}

func (r *wasmReader) bytes(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.fail(errTruncated)
		return nil
	}
	x := r.b[:n]
	r.b = r.b[n:]
	return x
}

// u32 reads an unsigned LEB128 number of at most 32 bits.
func (r *wasmReader) u32() uint32 {
	var x uint32
	for i := 0; i < 5; i++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if i == 4 && c > 0x0f {
			r.fail(errors.New("integer too large"))
			return 0
		}
		x |= uint32(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return x
		}
	}
	return x
}

func (r *wasmReader) name() string {
	n := r.u32()
	b := r.bytes(int(n))
	if r.err != nil {
		return ""
	}
	if !utf8.Valid(b) {
		r.fail(errors.New("name is not UTF-8"))
		return ""
	}
	return string(b)
}
