package trove

import (
	_ "github.com/hyperledger/aries-framework-go/pkg/doc/verifiable"
	_ "github.com/labstack/echo/v4"
	_ "github.com/lestrrat-go/jwx/v3/jws"
	_ "github.com/mattn/go-sqlite3"
	_ "github.com/tetratelabs/wazero"
	_ "github.com/transparency-dev/merkle/proof"
	_ "golang.org/x/mod/sumdb/note"
	_ "gonum.org/v1/gonum/stat"
	_ "github.com/spf13/cobra"
	_ "github.com/schollz/progressbar/v3"
	_ "golang.org/x/term"
	_ "github.com/prometheus/client_golang/prometheus"
)
