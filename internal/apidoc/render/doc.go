// Command render writes the HTML reference of api/openapi.yaml to the file
// named by its argument: go generate ./internal/apidoc runs it to make
// docs/api.html.
package main
