package dataset

import (
	"errors"
	"fmt"
	"math"
)

// Validate checks the invariants that every Table in a vault keeps, so
// that a table decoded from storage or from another process can be
// trusted: Rows is not negative; column names are non-empty and distinct;
// each column has a known kind, exactly Rows values in the slice of that
// kind and nothing in the others; floats are finite; categorical codes
// index their levels, which are distinct.
func (t *Table) Validate() error {
	if t.Rows < 0 {
		return fmt.Errorf("validate table: %d rows", t.Rows)
	}
	seen := make(map[string]bool, len(t.Columns))
	for i := range t.Columns {
		c := &t.Columns[i]
		if c.Name == "" {
			return fmt.Errorf("validate table: column %d: empty name", i+1)
		}
		if seen[c.Name] {
			return fmt.Errorf("validate table: column %d: duplicate name %q", i+1, c.Name)
		}
		seen[c.Name] = true
		if err := c.validate(t.Rows); err != nil {
			return fmt.Errorf("validate table: column %q: %w", c.Name, err)
		}
	}
	return nil
}

// validate checks one column of a table with rows rows.
func (c *Column) validate(rows int) error {
	if _, err := ParseKind(string(c.Kind)); err != nil {
		return err
	}
	var used int // the length of the kind's slice
	unused := len(c.Floats) + len(c.Ints) + len(c.Codes) + len(c.Levels)
	switch c.Kind {
	case Float:
		used = len(c.Floats)
		for _, f := range c.Floats {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return errors.New("float value is NaN or infinite")
			}
		}
	case Integer, Timestamp:
		used = len(c.Ints)
	case Categorical:
		used = len(c.Codes)
		unused -= len(c.Levels)
		if err := validateCodes(c.Codes, c.Levels); err != nil {
			return err
		}
	}
	if used != rows {
		return fmt.Errorf("%s column has %d values, the table %d rows", c.Kind, used, rows)
	}
	if unused -= used; unused != 0 {
		return fmt.Errorf("%s column holds %d values in slices of other kinds", c.Kind, unused)
	}
	return nil
}

// validateCodes checks that levels are distinct and every code indexes one.
func validateCodes(codes []uint32, levels []string) error {
	seen := make(map[string]bool, len(levels))
	for _, l := range levels {
		if seen[l] {
			// The level itself is data; its position is enough.
			return errors.New("categorical column has duplicate levels")
		}
		seen[l] = true
	}
	for i, code := range codes {
		if uint64(code) >= uint64(len(levels)) {
			return fmt.Errorf("row %d: code %d, but only %d levels", i+1, code, len(levels))
		}
	}
	return nil
}
