package vodapi

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// Every route the server answers is in the OpenAPI document, and the
// document names no route the server lacks.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	a := newAPI(t, Config{})
	resp, body := get(t, a.ts.URL+"/openapi.json")
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	param := regexp.MustCompile(`:([a-z]+)`)
	served := map[string]bool{}
	for _, r := range a.srv.e.Routes() {
		if r.Method == "echo_route_not_found" || strings.HasSuffix(r.Path, "/*") || r.Method == "OPTIONS" {
			continue
		}
		p := param.ReplaceAllString(r.Path, "{$1}")
		m := strings.ToLower(r.Method)
		served[p+" "+m] = true
		if _, ok := doc.Paths[p][m]; !ok {
			t.Errorf("route %s %s is not documented", r.Method, p)
		}
	}
	if len(served) < 10 {
		t.Fatalf("only %d routes seen: %v", len(served), served)
	}
	for p, ops := range doc.Paths {
		for m := range ops {
			if !served[p+" "+m] {
				t.Errorf("documented %s %s is not served", m, p)
			}
		}
	}
}
