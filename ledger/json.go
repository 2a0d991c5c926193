package ledger

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// decodeStrict decodes one JSON object from data into v. Unlike
// encoding/json's defaults it refuses keys that are not exactly one of
// keys (encoding/json matches field names case-insensitively), duplicate
// keys, unknown fields and anything after the object.
func decodeStrict(data []byte, v any, keys ...string) error {
	if err := checkKeys(data, keys); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON object")
	}
	return nil
}

// checkKeys checks that data is a JSON object whose keys are each one of
// allowed, spelled exactly, at most once.
func checkKeys(data []byte, allowed []string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	seen := make(map[string]bool, len(allowed))
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		if !slices.Contains(allowed, key) {
			return fmt.Errorf("unknown field %q", short(key))
		}
		if seen[key] {
			return fmt.Errorf("duplicate field %q", key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}

// decodeBase64 decodes s in enc's one canonical form: unlike the
// encoding/base64 decoders, even with Strict, it refuses line breaks, and
// it refuses non-zero padding bits.
func decodeBase64(enc *base64.Encoding, s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("line break in base64")
	}
	return enc.Strict().DecodeString(s)
}

// short truncates untrusted text for an error message.
func short(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
