// Package sampledata embeds the small real dataset that `trove demo` runs
// on: UCI Breast Cancer Wisconsin (Diagnostic), CC BY 4.0 (see
// ATTRIBUTION.md beside this file).
package sampledata

import _ "embed"

//go:embed breast_cancer.csv
var breastCancer []byte

// BreastCancerName is the dataset name the demo imports the file under.
const BreastCancerName = "breast_cancer"

// BreastCancerAttribution credits the dataset, for anything that shows it.
const BreastCancerAttribution = "UCI Breast Cancer Wisconsin (Diagnostic), Wolberg, Mangasarian, Street & Street, CC BY 4.0"

// BreastCancer returns the CSV file (with header). The caller must not
// modify it.
func BreastCancer() []byte { return breastCancer }
