package compute

import "time"

// Config holds the sandbox's limits. The zero value of a field is not a
// default: start from DefaultConfig and change what you need.
type Config struct {
	// CacheDir is where wazero keeps compiled machine code across
	// restarts. Empty keeps compiled modules in memory only.
	CacheDir string
	// MemoryLimitPages caps a module's linear memory, in 64 KiB pages.
	// Default 4096 (256 MiB).
	MemoryLimitPages uint32
	// Timeout is the wall time a job may run before it is stopped.
	// Default 30s.
	Timeout time.Duration
	// MaxOutput caps the bytes a module may write to stdout; past it the
	// module is stopped. Default 1 MiB.
	MaxOutput int
	// MaxStderr is how much of a module's stderr is kept for the owner;
	// the rest is dropped. Default 64 KiB.
	MaxStderr int
	// MaxModuleSize caps the size of a module's binary. Default 16 MiB.
	MaxModuleSize int
	// CachedModules is how many compiled modules are kept in memory; the
	// oldest is dropped when a new one arrives. Default 16.
	CachedModules int
	// MaxRunningJobs caps the jobs that run at once. Default 2.
	MaxRunningJobs int
	// MaxWaitingJobs caps the jobs that wait for a turn; past it a job is
	// refused with ErrBusy. Default 8.
	MaxWaitingJobs int
}

// DefaultConfig returns the default limits.
func DefaultConfig() Config {
	return Config{
		MemoryLimitPages: 4096,
		Timeout:          30 * time.Second,
		MaxOutput:        1 << 20,
		MaxStderr:        64 << 10,
		MaxModuleSize:    16 << 20,
		CachedModules:    16,
		MaxRunningJobs:   2,
		MaxWaitingJobs:   8,
	}
}
