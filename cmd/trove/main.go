// Command trove is a personal data vault where the algorithm comes to the
// data, the owner decides, and every use is logged and paid for. Run
// `trove --help` for the commands, or `trove demo` to see the whole flow.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], ConfigFromEnv())
	stop()
	os.Exit(code)
}
