package apidoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxSpec bounds the description Render reads.
const MaxSpec = 1 << 20

// node is a YAML node with helpers for mappings, which keep their order.
type node struct{ n *yaml.Node }

func (n node) get(key string) node {
	if n.n == nil || n.n.Kind != yaml.MappingNode {
		return node{}
	}
	for i := 0; i+1 < len(n.n.Content); i += 2 {
		if n.n.Content[i].Value == key {
			return node{n.n.Content[i+1]}
		}
	}
	return node{}
}

func (n node) str() string {
	if n.n == nil || n.n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.n.Value
}

// pairs returns a mapping's keys and values in order.
func (n node) pairs() []pair {
	if n.n == nil || n.n.Kind != yaml.MappingNode {
		return nil
	}
	var out []pair
	for i := 0; i+1 < len(n.n.Content); i += 2 {
		out = append(out, pair{n.n.Content[i].Value, node{n.n.Content[i+1]}})
	}
	return out
}

func (n node) items() []node {
	if n.n == nil || n.n.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]node, len(n.n.Content))
	for i, c := range n.n.Content {
		out[i] = node{c}
	}
	return out
}

type pair struct {
	key string
	val node
}

// Page is what the template renders.
type page struct {
	Title, Version string
	Description    template.HTML
	Groups         []group
	Schemas        []schema
}

type group struct {
	Tag         string
	Description string
	Ops         []op
}

type op struct {
	ID, Method, Path, Summary string
	Description               template.HTML
	Signed                    bool
	Params                    []param
	Bodies                    []response // media type, schema and example of each request body
	Responses                 []response
}

type param struct{ Name, In, Type, Required string }

type response struct {
	Status, Description, Media string
	Schema                     template.HTML
	Example                    string        // JSON, indented
	Prose                      template.HTML // a request body's description
}

// example renders a media type's example as indented JSON ("" if none or
// not JSON-able).
func example(media node) string {
	ex := media.get("example")
	if ex.n == nil {
		return ""
	}
	var v any
	if err := ex.n.Decode(&v); err != nil {
		return ""
	}
	if str, ok := v.(string); ok {
		return str
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return ""
	}
	return string(b)
}

type schema struct {
	Name        string
	Description template.HTML
	Props       []prop
}

type prop struct {
	Name, Required string
	Type           template.HTML
	Description    template.HTML
}

var code = regexp.MustCompile("`([^`]+)`")

// prose renders a description: paragraphs at blank lines, `code` spans.
func prose(s string) template.HTML {
	var b strings.Builder
	for _, p := range strings.Split(strings.TrimSpace(s), "\n\n") {
		if p == "" {
			continue
		}
		t := html.EscapeString(strings.Join(strings.Fields(p), " "))
		b.WriteString("<p>" + code.ReplaceAllString(t, "<code>$1</code>") + "</p>")
	}
	return template.HTML(b.String())
}

// typeOf describes a schema in one line, linking to named schemas.
func typeOf(n node) template.HTML {
	if ref := n.get("$ref").str(); ref != "" {
		name := ref[strings.LastIndex(ref, "/")+1:]
		return template.HTML(fmt.Sprintf(`<a href="#schema-%s">%s</a>`, html.EscapeString(name), html.EscapeString(name)))
	}
	t := n.get("type").str()
	switch t {
	case "":
		return "any JSON"
	case "array":
		return "array of " + typeOf(n.get("items"))
	}
	if f := n.get("format").str(); f != "" {
		t += " (" + f + ")"
	}
	if e := n.get("enum").items(); len(e) > 0 {
		vals := make([]string, len(e))
		for i, v := range e {
			vals[i] = v.str()
		}
		t += ": one of " + strings.Join(vals, ", ")
	}
	return template.HTML(html.EscapeString(t))
}

// Render turns an OpenAPI 3.0 description into a self-contained HTML page.
func Render(spec []byte) ([]byte, error) {
	if len(spec) > MaxSpec {
		return nil, fmt.Errorf("render the API reference: the description is over %d bytes", MaxSpec)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(spec, &doc); err != nil {
		return nil, fmt.Errorf("render the API reference: %w", err)
	}
	if len(doc.Content) != 1 {
		return nil, fmt.Errorf("render the API reference: not one YAML document")
	}
	root := node{doc.Content[0]}
	if v := root.get("openapi").str(); !strings.HasPrefix(v, "3.0.") {
		return nil, fmt.Errorf("render the API reference: openapi %q, want 3.0.x", v)
	}
	info := root.get("info")
	pg := page{Title: info.get("title").str(), Version: info.get("version").str(), Description: prose(info.get("description").str())}
	groups := map[string]*group{}
	var order []string
	for _, t := range root.get("tags").items() {
		name := t.get("name").str()
		groups[name] = &group{Tag: name, Description: t.get("description").str()}
		order = append(order, name)
	}
	for _, p := range root.get("paths").pairs() {
		for _, m := range p.val.pairs() {
			o := op{ID: m.val.get("operationId").str(), Method: strings.ToUpper(m.key), Path: p.key,
				Summary: m.val.get("summary").str(), Description: prose(m.val.get("description").str()),
				Signed: len(m.val.get("security").items()) > 0}
			for _, pa := range m.val.get("parameters").items() {
				if ref := pa.get("$ref").str(); ref != "" {
					pa = root.get("components").get("parameters").get(ref[strings.LastIndex(ref, "/")+1:])
				}
				req := "optional"
				if pa.get("required").str() == "true" {
					req = "required"
				}
				o.Params = append(o.Params, param{pa.get("name").str(), pa.get("in").str(), string(typeOf(pa.get("schema"))), req})
			}
			for _, c := range m.val.get("requestBody").get("content").pairs() {
				sch := c.val.get("schema")
				o.Bodies = append(o.Bodies, response{Media: c.key, Schema: typeOf(sch), Prose: prose(sch.get("description").str()), Example: example(c.val)})
			}
			for _, r := range m.val.get("responses").pairs() {
				rn := r.val
				if ref := rn.get("$ref").str(); ref != "" {
					rn = root.get("components").get("responses").get(ref[strings.LastIndex(ref, "/")+1:])
				}
				resp := response{Status: r.key, Description: rn.get("description").str()}
				for _, c := range rn.get("content").pairs() {
					resp.Media, resp.Schema = c.key, typeOf(c.val.get("schema"))
					if strings.HasPrefix(r.key, "2") {
						resp.Example = example(c.val)
					}
				}
				o.Responses = append(o.Responses, resp)
			}
			tag := ""
			if ts := m.val.get("tags").items(); len(ts) > 0 {
				tag = ts[0].str()
			}
			g, ok := groups[tag]
			if !ok {
				g = &group{Tag: tag}
				groups[tag] = g
				order = append(order, tag)
			}
			g.Ops = append(g.Ops, o)
		}
	}
	for _, name := range order {
		pg.Groups = append(pg.Groups, *groups[name])
	}
	for _, s := range root.get("components").get("schemas").pairs() {
		sc := schema{Name: s.key, Description: prose(s.val.get("description").str())}
		required := map[string]bool{}
		for _, r := range s.val.get("required").items() {
			required[r.str()] = true
		}
		for _, p := range s.val.get("properties").pairs() {
			req := ""
			if required[p.key] {
				req = "required"
			}
			sc.Props = append(sc.Props, prop{Name: p.key, Required: req, Type: typeOf(p.val), Description: prose(p.val.get("description").str())})
		}
		pg.Schemas = append(pg.Schemas, sc)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, pg); err != nil {
		return nil, fmt.Errorf("render the API reference: %w", err)
	}
	return b.Bytes(), nil
}

var tmpl = template.Must(template.New("api").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="trove internal/apidoc from api/openapi.yaml">
<title>{{.Title}} {{.Version}}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
code,.path{font-family:ui-monospace,monospace}
h2{border-bottom:1px solid #ccc;margin-top:2.5rem}
.op{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
.m{display:inline-block;min-width:4rem;font-weight:bold}
.GET{color:#0a5}.POST{color:#05a}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}
pre{background:#f6f6f6;padding:.5rem;overflow-x:auto;font-size:.85rem}
.signed{font-size:.8rem;background:#fe8;border-radius:3px;padding:0 .3rem}
nav a{margin-right:.8rem}
</style>
</head>
<body>
<h1>{{.Title}} <small>v{{.Version}}</small></h1>
<p>Generated from <code>api/openapi.yaml</code> (also served by every vault at <code>GET /openapi.yaml</code>).</p>
{{.Description}}
<nav>{{range .Groups}}<a href="#tag-{{.Tag}}">{{.Tag}}</a>{{end}}<a href="#schemas">schemas</a></nav>
{{range .Groups}}
<h2 id="tag-{{.Tag}}">{{.Tag}}</h2>
<p>{{.Description}}</p>
{{range .Ops}}
<div class="op" id="op-{{.ID}}">
<h3><span class="m {{.Method}}">{{.Method}}</span> <span class="path">{{.Path}}</span>{{if .Signed}} <span class="signed">signed</span>{{end}}</h3>
<p>{{.Summary}}</p>
{{.Description}}
{{if .Params}}<table><tr><th>parameter</th><th>in</th><th>type</th><th></th></tr>
{{range .Params}}<tr><td><code>{{.Name}}</code></td><td>{{.In}}</td><td>{{.Type}}</td><td>{{.Required}}</td></tr>
{{end}}</table>{{end}}
{{range .Bodies}}<p>Body: <code>{{.Media}}</code> {{.Schema}}</p>{{.Prose}}
{{if .Example}}<pre>{{.Example}}</pre>{{end}}{{end}}
<table><tr><th>status</th><th>meaning</th><th>body</th></tr>
{{range .Responses}}<tr><td>{{.Status}}</td><td>{{.Description}}</td><td>{{if .Media}}<code>{{.Media}}</code> {{.Schema}}{{end}}</td></tr>
{{end}}</table>
{{range .Responses}}{{if .Example}}<p>Example {{.Status}}:</p><pre>{{.Example}}</pre>{{end}}{{end}}
</div>
{{end}}{{end}}
<h2 id="schemas">schemas</h2>
{{range .Schemas}}
<h3 id="schema-{{.Name}}">{{.Name}}</h3>
{{.Description}}
{{if .Props}}<table><tr><th>field</th><th>type</th><th></th><th>description</th></tr>
{{range .Props}}<tr><td><code>{{.Name}}</code></td><td>{{.Type}}</td><td>{{.Required}}</td><td>{{.Description}}</td></tr>
{{end}}</table>{{end}}
{{end}}
</body>
</html>
`))
