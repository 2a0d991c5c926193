package compute

import "github.com/tetratelabs/wazero/experimental"

// memoryPool hands out the linear memories of jobs: fixed-capacity buffers
// as large as the memory cap. Growing a memory reslices its buffer instead
// of copying it (wazero's default allocator reallocates and copies on every
// memory.grow, which drives host memory to several times the cap for a
// module that grows step by step); freeing it zeroes the prefix the job
// used and keeps the buffer for the next job. The operating system commits
// a buffer's pages only as a job touches them, so host memory stays near
// what the jobs use, never above the cap per running job.
type memoryPool struct {
	size int         // capacity of each buffer: the memory cap in bytes
	free chan []byte // buffers ready for a job, zeroed; at most cap(free) kept
}

// newMemoryPool returns a pool of buffers of size bytes that keeps at most
// keep idle buffers.
func newMemoryPool(size, keep int) *memoryPool {
	return &memoryPool{size: size, free: make(chan []byte, keep)}
}

// Allocate implements experimental.MemoryAllocator. wazero never asks for
// more than max bytes, and max is at most the runtime's memory cap.
func (p *memoryPool) Allocate(_, max uint64) experimental.LinearMemory {
	var buf []byte
	select {
	case buf = <-p.free:
	default:
		buf = make([]byte, 0, p.size)
	}
	return &pooledMemory{pool: p, buf: buf[:0], max: min(max, uint64(p.size))}
}

// pooledMemory is one job's linear memory, backed by a pool buffer.
type pooledMemory struct {
	pool *memoryPool
	buf  []byte
	max  uint64
	used int // the largest length handed out: the part to zero on Free
}

// Reallocate grows the memory to size bytes by reslicing; nil past the cap
// (the module sees memory.grow fail).
func (m *pooledMemory) Reallocate(size uint64) []byte {
	if m.buf == nil || size > m.max {
		return nil
	}
	m.buf = m.buf[:size]
	m.used = max(m.used, int(size))
	return m.buf
}

// Free zeroes what the job used and hands the buffer back to the pool, or
// drops it when the pool already keeps enough.
func (m *pooledMemory) Free() {
	if m.buf == nil {
		return
	}
	buf := m.buf[:m.used]
	m.buf = nil
	clear(buf)
	select {
	case m.pool.free <- buf[:0]:
	default:
	}
}
