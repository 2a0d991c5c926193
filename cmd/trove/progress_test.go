package main

import (
	"bytes"
	"errors"
	"testing"
)

// Off a terminal the wait is one line, and fn's error comes through.
func TestWhileRunningOffTerminal(t *testing.T) {
	var out bytes.Buffer
	boom := errors.New("boom")
	ran := false
	err := whileRunning(&out, "Running the job", func() error { ran = true; return boom })
	if !ran || !errors.Is(err, boom) || out.String() != "Running the job…\n" {
		t.Fatalf("ran %v, err %v, output %q", ran, err, out.String())
	}
}
