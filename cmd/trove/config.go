package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"
)

// Config is everything the commands take from their environment. Flags
// override it; ConfigFromEnv fills it from the process.
type Config struct {
	Home          string // vault home: $TROVE_HOME, default ~/.trove
	RequesterHome string // requester home: $TROVE_REQUESTER_HOME, default ~/.trove-requester
	Passphrase    string // $TROVE_PASSPHRASE; when empty, asked on the terminal
	WorkFactor    int    // scrypt work factor for new keys; 0 = the default
	PublicURL     string // the vault's public API URL, named in credentials: $TROVE_PUBLIC_URL, default vault.DefaultPublicURL
	WebHost       string // the vault's domain for did:web (host[:port]): $TROVE_WEB_HOST, default none
	// WebLoopbackHTTP lets a requester fetch the did:web documents of
	// loopback hosts over plain HTTP: $TROVE_TEST_DID_WEB_LOOPBACK_HTTP=1,
	// for tests only; default off (HTTPS only).
	WebLoopbackHTTP bool
	Stdin           io.Reader
	Stdout          io.Writer
	Stderr          io.Writer
}

// ConfigFromEnv reads the configuration from environment variables.
func ConfigFromEnv() Config {
	home, _ := os.UserHomeDir()
	c := Config{
		Home:          filepath.Join(home, ".trove"),
		RequesterHome: filepath.Join(home, ".trove-requester"),
		Passphrase:    os.Getenv("TROVE_PASSPHRASE"),
		Stdin:         os.Stdin,
		Stdout:        os.Stdout,
		Stderr:        os.Stderr,
	}
	if h := os.Getenv("TROVE_HOME"); h != "" {
		c.Home = h
	}
	c.PublicURL = os.Getenv("TROVE_PUBLIC_URL")
	c.WebHost = os.Getenv("TROVE_WEB_HOST")
	c.WebLoopbackHTTP = os.Getenv("TROVE_TEST_DID_WEB_LOOPBACK_HTTP") == "1"
	if h := os.Getenv("TROVE_REQUESTER_HOME"); h != "" {
		c.RequesterHome = h
	}
	return c
}

// passphrase returns the configured passphrase, or asks for it on the
// terminal (twice when confirm is set, for a new key).
func (c *Config) passphrase(prompt string, confirm bool) ([]byte, error) {
	if c.Passphrase != "" {
		return []byte(c.Passphrase), nil
	}
	f, ok := c.Stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, errors.New("no passphrase: set TROVE_PASSPHRASE or run on a terminal")
	}
	fmt.Fprintf(c.Stderr, "%s: ", prompt)
	p, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(c.Stderr)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if strings.TrimSpace(string(p)) == "" {
		return nil, errors.New("the passphrase is empty")
	}
	if confirm {
		fmt.Fprint(c.Stderr, "again: ")
		q, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.Stderr)
		if err != nil {
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		if string(p) != string(q) {
			return nil, errors.New("the passphrases differ")
		}
	}
	return p, nil
}
