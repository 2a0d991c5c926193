package api

import _ "embed"

//go:generate go tool oapi-codegen -config apigen/config.yaml openapi.yaml

// OpenAPI is the API's OpenAPI 3 description, served at GET /openapi.yaml;
// package apigen is generated from it.
//
//go:embed openapi.yaml
var OpenAPI []byte
