package compute

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/trove-project/trove/dataset"
)

// Input is what a job gives an algorithm.
type Input struct {
	// JobID names the job. It seeds the module's randomness, so the same
	// job id, module and input give the same run.
	JobID string
	// Table is the data the consent lets the algorithm read.
	Table *dataset.Table
	// Params are the requester's parameters: one JSON value, or empty.
	Params json.RawMessage
}

// Output is what an algorithm gave back.
type Output struct {
	// Result is the one JSON document the algorithm wrote.
	Result json.RawMessage
	// Stderr is the start of what the module wrote on stderr, for the
	// owner; it may hold anything, data included.
	Stderr []byte
	// ExitCode is the module's exit code.
	ExitCode uint32
}

// Sandbox runs WebAssembly modules. It holds one wazero runtime for the
// life of the process and keeps the modules it compiled, keyed by sha256.
// It is safe for concurrent use.
type Sandbox struct {
	cfg     Config
	runtime wazero.Runtime
	cache   wazero.CompilationCache           // nil without CacheDir
	wasi    map[string]api.FunctionDefinition // functions WASI provides; read-only
	memory  *memoryPool                       // the linear memories of jobs

	mu       sync.Mutex
	compiled map[[sha256.Size]byte]*compiledEntry
	order    [][sha256.Size]byte // insertion order, for eviction
}

// compiledEntry is a cached compiled module and the jobs using it. An
// evicted entry is closed when its last job is done.
type compiledEntry struct {
	code    wazero.CompiledModule
	users   int
	evicted bool
}

// NewSandbox starts a wazero runtime (compiler engine, close-on-context-
// done, cfg's memory cap, an on-disk compilation cache when cfg.CacheDir is
// set) with WASI preview 1 in it. Jobs' linear memories come from a pool of
// buffers as large as the cap, so that a module growing its memory step by
// step costs the host about the cap and no copying. Close it when done.
func NewSandbox(ctx context.Context, cfg Config) (*Sandbox, error) {
	// Close-on-context-done must stay on: without it a module that spins
	// never returns, whatever its deadline.
	return newSandbox(ctx, cfg, true)
}

// newSandbox is NewSandbox with close-on-context-done as asked: off only
// in a benchmark that measures what it costs.
func newSandbox(ctx context.Context, cfg Config, closeOnDone bool) (*Sandbox, error) {
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	rc := wazero.NewRuntimeConfigCompiler().
		WithCloseOnContextDone(closeOnDone).
		WithMemoryLimitPages(cfg.MemoryLimitPages)
	s := &Sandbox{
		cfg:      cfg,
		compiled: make(map[[sha256.Size]byte]*compiledEntry),
		memory:   newMemoryPool(int(cfg.MemoryLimitPages)*wasmPageSize, cfg.MaxRunningJobs),
	}
	if cfg.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("new sandbox: compilation cache in %s: %w", cfg.CacheDir, err)
		}
		s.cache = cache
		rc = rc.WithCompilationCache(cache)
	}
	s.runtime = wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, s.runtime); err != nil {
		_ = s.Close(ctx)
		return nil, fmt.Errorf("new sandbox: instantiate WASI: %w", err)
	}
	s.wasi = s.runtime.Module(wasi_snapshot_preview1.ModuleName).ExportedFunctionDefinitions()
	return s, nil
}

// wasmPageSize is the size of a WebAssembly memory page.
const wasmPageSize = 64 << 10

func checkConfig(cfg Config) error {
	switch {
	case cfg.MemoryLimitPages == 0 || cfg.MemoryLimitPages > 65536:
		return fmt.Errorf("new sandbox: memory limit of %d pages is not in 1..65536", cfg.MemoryLimitPages)
	case cfg.Timeout <= 0:
		return fmt.Errorf("new sandbox: timeout %v is not positive", cfg.Timeout)
	case cfg.MaxOutput <= 0:
		return fmt.Errorf("new sandbox: output cap %d is not positive", cfg.MaxOutput)
	case cfg.MaxStderr < 0:
		return fmt.Errorf("new sandbox: stderr cap %d is negative", cfg.MaxStderr)
	case cfg.MaxModuleSize <= 0:
		return fmt.Errorf("new sandbox: module size cap %d is not positive", cfg.MaxModuleSize)
	case cfg.CachedModules <= 0:
		return fmt.Errorf("new sandbox: compiled module cache of %d is not positive", cfg.CachedModules)
	case cfg.MaxRunningJobs <= 0:
		return fmt.Errorf("new sandbox: %d running jobs is not positive", cfg.MaxRunningJobs)
	case cfg.MaxWaitingJobs < 0:
		return fmt.Errorf("new sandbox: %d waiting jobs is negative", cfg.MaxWaitingJobs)
	}
	return nil
}

// Close stops every running module and releases the runtime and the
// compilation cache.
func (s *Sandbox) Close(ctx context.Context) error {
	err := s.runtime.Close(ctx)
	if s.cache != nil {
		err = errors.Join(err, s.cache.Close(ctx))
	}
	if err != nil {
		return fmt.Errorf("close sandbox: %w", err)
	}
	return nil
}

// Run runs module over in.Table and returns its result. The module is
// validated and compiled on first use, then taken from the cache. When the
// module ran but failed (ErrModuleExit, ErrTrap, ErrTimeout,
// ErrOutputTooLarge, ErrBadOutput) the Output is returned beside the error,
// without Result, so the owner can read its stderr.
func (s *Sandbox) Run(ctx context.Context, module []byte, in Input) (*Output, error) {
	entry, err := s.acquire(ctx, module)
	if err != nil {
		return nil, fmt.Errorf("run job %s: %w", in.JobID, err)
	}
	defer s.release(ctx, entry)
	frame, err := EncodeFrame(in.Table, in.Params)
	if err != nil {
		return nil, fmt.Errorf("run job %s: %w", in.JobID, err)
	}

	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	ctx = experimental.WithMemoryAllocator(ctx, s.memory)
	stdout := &cappedWriter{max: s.cfg.MaxOutput, cancel: cancel}
	stderr := &headWriter{max: s.cfg.MaxStderr}
	seed := sha256.Sum256([]byte(in.JobID))
	// No FS, no environment, no real clocks: wazero gives none unless
	// asked, and fake walltime and nanotime are its defaults.
	mc := wazero.NewModuleConfig().
		WithName(""). // anonymous, whatever name the binary claims: jobs run side by side
		WithArgs("algorithm").
		WithStdin(bytes.NewReader(frame)).
		WithStdout(stdout).
		WithStderr(stderr).
		WithRandSource(rand.NewChaCha8(seed))
	mod, err := s.runtime.InstantiateModule(ctx, entry.code, mc)
	if mod != nil {
		_ = mod.Close(ctx)
	}
	out := &Output{Stderr: stderr.buf}
	if err != nil {
		return out, fmt.Errorf("run job %s: %w", in.JobID, classify(ctx, err, stdout.over, out))
	}
	if stdout.over {
		return out, fmt.Errorf("run job %s: over %d bytes: %w", in.JobID, s.cfg.MaxOutput, ErrOutputTooLarge)
	}
	result := bytes.TrimSpace(stdout.buf)
	if !json.Valid(result) {
		return out, fmt.Errorf("run job %s: %w", in.JobID, ErrBadOutput)
	}
	out.Result = result
	return out, nil
}

// classify turns what InstantiateModule returned into a job error.
func classify(ctx context.Context, err error, over bool, out *Output) error {
	var exit *sys.ExitError
	if !errors.As(err, &exit) {
		if over {
			return ErrOutputTooLarge
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return ErrTimeout
		}
		return fmt.Errorf("%w: %w", ErrTrap, err)
	}
	switch code := exit.ExitCode(); {
	case over:
		return ErrOutputTooLarge
	case code == sys.ExitCodeDeadlineExceeded:
		return ErrTimeout
	case code == sys.ExitCodeContextCanceled:
		return fmt.Errorf("stopped: %w", context.Canceled)
	default:
		out.ExitCode = code
		return &ExitError{Code: code}
	}
}

// acquire returns the compiled form of module for a job, from the cache
// when it is there; otherwise it validates and compiles it and caches it.
// Hand the entry back with release.
func (s *Sandbox) acquire(ctx context.Context, module []byte) (*compiledEntry, error) {
	key := sha256.Sum256(module)
	s.mu.Lock()
	e, ok := s.compiled[key]
	if ok {
		e.users++
	}
	s.mu.Unlock()
	if ok {
		return e, nil
	}
	if err := checkSize(module, s.cfg.MaxModuleSize); err != nil {
		return nil, err
	}
	var code wazero.CompiledModule
	if err := checkModule(ctx, s.runtime, module, s.wasi, func(c wazero.CompiledModule) { code = c }); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.compiled[key]; ok { // compiled meanwhile for another job
		_ = code.Close(ctx)
		e.users++
		return e, nil
	}
	if len(s.order) >= s.cfg.CachedModules {
		old := s.compiled[s.order[0]]
		delete(s.compiled, s.order[0])
		s.order = s.order[1:]
		old.evicted = true
		if old.users == 0 {
			_ = old.code.Close(ctx)
		}
	}
	e = &compiledEntry{code: code, users: 1}
	s.compiled[key] = e
	s.order = append(s.order, key)
	return e, nil
}

// release hands back an entry that acquire returned.
func (s *Sandbox) release(ctx context.Context, e *compiledEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.users--
	if e.evicted && e.users == 0 {
		_ = e.code.Close(ctx)
	}
}
