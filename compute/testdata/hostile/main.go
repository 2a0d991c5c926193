// Command hostile tries what a hostile algorithm would, one behaviour per
// job, chosen by the "mode" param:
//
//	loop    spin forever
//	flood   write to stdout forever, ignoring errors
//	stderr  write to stderr forever, then nothing on stdout
//	grow    allocate and touch memory 1 MiB at a time until it runs out
//	bomb    allocate 1 GiB at once
//	escape  try to read a file, open a socket, read the environment, the
//	        arguments, the clock and randomness, and report what it got
//	trap    read memory far past the end of linear memory: a WebAssembly trap
//	exit    exit with code 3
//	panic   panic (the Go runtime exits with code 2)
//	garbage write something that is not JSON
//	echo    report the frame as it was read
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"time"
	"unsafe"

	"github.com/trove-project/trove/guest"
)

func main() {
	f, err := guest.Read()
	if err != nil {
		panic(err)
	}
	var p struct{ Mode string }
	if err := json.Unmarshal(f.Params, &p); err != nil {
		panic(err)
	}
	switch p.Mode {
	case "loop":
		x := 0
		for i := 0; ; i++ {
			x ^= i
		}
	case "flood":
		line := []byte(`{"flood":"` + string(make([]byte, 1000)) + `"}`)
		for {
			os.Stdout.Write(line)
		}
	case "stderr":
		line := make([]byte, 4096)
		for {
			if _, err := os.Stderr.Write(line); err != nil {
				break
			}
		}
	case "grow":
		var kept [][]byte
		for {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			kept = append(kept, b)
		}
	case "bomb":
		b := make([]byte, 1<<30)
		b[len(b)-1] = 1
		guest.WriteResult(map[string]int{"got": len(b)})
	case "escape":
		escape()
	case "trap":
		// Not nil, so Go's nil check passes; past the 4 GiB the module can
		// address at most, so the load traps.
		p := (*byte)(unsafe.Pointer(uintptr(0xFFFF_FFF0)))
		os.Stdout.Write([]byte{*p})
	case "exit":
		os.Stderr.WriteString("giving up\n")
		os.Exit(3)
	case "panic":
		panic("hostile module panics")
	case "garbage":
		os.Stdout.WriteString(`{"a":1} {"b":2}`)
	case "echo":
		echo(f)
	}
}

func escape() {
	r := map[string]any{}
	_, err := os.Open("/etc/passwd")
	r["open_error"] = err != nil
	_, err = os.ReadDir("/")
	r["readdir_error"] = err != nil
	_, err = net.Dial("tcp", "127.0.0.1:80")
	r["dial_error"] = err != nil
	r["home"] = os.Getenv("HOME")
	r["environ"] = os.Environ()
	r["args"] = os.Args
	r["year"] = time.Now().Year()
	b := make([]byte, 16)
	rand.Read(b)
	r["random"] = hex.EncodeToString(b)
	guest.WriteResult(r)
}

func echo(f *guest.Frame) {
	type col struct {
		Name   string    `json:"name"`
		Kind   string    `json:"kind"`
		Levels []string  `json:"levels"`
		Floats []float64 `json:"floats"`
		Ints   []int64   `json:"ints"`
		Codes  []uint32  `json:"codes"`
	}
	cols := make([]col, len(f.Columns))
	for i := range f.Columns {
		c := &f.Columns[i]
		cols[i] = col{c.Name, c.Kind, c.Levels, c.Floats(), c.Ints(), c.Codes()}
	}
	guest.WriteResult(map[string]any{"rows": f.Rows, "columns": cols, "params": f.Params})
}
