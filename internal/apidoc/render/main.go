package main

import (
	"fmt"
	"os"

	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/internal/apidoc"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: render OUT.html")
		os.Exit(2)
	}
	page, err := apidoc.Render(api.OpenAPI)
	if err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(os.Args[1], page, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}
