// Package dataset is the data model of what an owner keeps in a vault: a
// table of typed columns, its schema, and the parsing of CSV files into it.
//
// A Table is column-major: each Column holds the values of one kind in one
// slice, which is how the vault stores them (in encrypted chunks) and how
// the compute package hands them to a visiting algorithm. Parsing is strict:
// a ragged row, a value that does not fit its column's kind, an empty or
// duplicate header name, or a file over the size limit is an error that
// names the row and the column, and no partial table is returned. Error
// messages never quote a value from the file: values are personal data.
//
// Every Table a vault keeps satisfies Table.Validate: equally long
// columns, each using only the slice of its kind, finite floats, and
// categorical codes that index distinct levels.
package dataset
