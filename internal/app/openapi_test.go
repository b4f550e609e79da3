package app_test

import (
	"context"
	"email-alert/internal/testkit/testrig"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"
)

// TestOpenAPIDescribesEveryRoute keeps openapi.yaml and the API router in
// step: every route is documented and every documented operation is routed.
// Operations with a request body must document 400, 413 and 415, and every
// operation needing a token must document 401.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	raw, err := os.ReadFile("../../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if err := loaded.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not valid OpenAPI 3: %v", err)
	}

	type operation struct {
		Security    *[]map[string][]string `yaml:"security"`
		RequestBody any                    `yaml:"requestBody"`
		Responses   map[string]any         `yaml:"responses"`
	}
	var doc struct {
		Security []map[string][]string           `yaml:"security"`
		Paths    map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}

	param := regexp.MustCompile(`[:*]([A-Za-z_]+)`)
	routed := map[string]bool{}
	r := testrig.NewAPIApp(t).APIRouter()
	for _, route := range r.Routes() {
		key := route.Method + " " + param.ReplaceAllString(route.Path, "{$1}")
		routed[key] = true
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, node := range ops {
			if method == "parameters" {
				continue
			}
			var op operation
			if err := node.Decode(&op); err != nil {
				t.Fatalf("openapi.yaml: %s %s: %v", method, path, err)
			}
			key := strings.ToUpper(method) + " " + path
			documented[key] = true
			needsToken := op.Security == nil || len(*op.Security) > 0
			var want []string
			if needsToken {
				want = append(want, "401")
			}
			if op.RequestBody != nil {
				want = append(want, "400", "413", "415")
			}
			for _, code := range want {
				if _, ok := op.Responses[code]; !ok {
					t.Errorf("openapi.yaml: %s does not document %s", key, code)
				}
			}
		}
	}
	for key := range routed {
		if !documented[key] {
			t.Errorf("route %s is not in openapi.yaml", key)
		}
	}
	for key := range documented {
		if !routed[key] {
			t.Errorf("openapi.yaml documents %s, which is not routed", key)
		}
	}
	if len(routed) == 0 || !slices.ContainsFunc(doc.Security, func(m map[string][]string) bool { _, ok := m["bearerAuth"]; return ok }) {
		t.Errorf("no routes, or no global bearerAuth security in openapi.yaml")
	}
}
