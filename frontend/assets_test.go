package frontend

import (
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gin-gonic/gin"
)

// newTestAssets serves the real files of templates/assets.
func newTestAssets(t *testing.T) (*Assets, http.Handler) {
	t.Helper()
	a, err := NewAssets(os.DirFS("../templates/assets"))
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.GET("/assets/*path", a.Handler())
	r.HEAD("/assets/*path", a.Handler())
	return a, r
}

func serveAsset(h http.Handler, method, target string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestAssetsHashedPaths(t *testing.T) {
	a, h := newTestAssets(t)
	for _, tc := range []struct{ name, pattern, contentType string }{
		{"govuk-frontend/govuk-frontend.min.css", `^/assets/govuk-frontend/govuk-frontend\.min\.[0-9a-f]{10}\.css$`, "text/css; charset=utf-8"},
		{"govuk-frontend/govuk-frontend.min.js", `^/assets/govuk-frontend/govuk-frontend\.min\.[0-9a-f]{10}\.js$`, "text/javascript; charset=utf-8"},
		{"init.js", `^/assets/init\.[0-9a-f]{10}\.js$`, "text/javascript; charset=utf-8"},
		{"govuk-frontend/assets/images/favicon.svg", `^/assets/govuk-frontend/assets/images/favicon\.[0-9a-f]{10}\.svg$`, "image/svg+xml"},
	} {
		url, err := a.Path(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(tc.pattern).MatchString(url) {
			t.Errorf("Path(%q) = %q, want a match of %s", tc.name, url, tc.pattern)
		}
		w := serveAsset(h, http.MethodGet, url, nil)
		if w.Code != http.StatusOK || w.Body.Len() == 0 {
			t.Errorf("GET %s: %d, %d bytes", url, w.Code, w.Body.Len())
		}
		hash := regexp.MustCompile(`\.([0-9a-f]{10})\.[a-z0-9]+$`).FindStringSubmatch(url)[1]
		for k, v := range map[string]string{
			"Content-Type":           tc.contentType,
			"Cache-Control":          "public, max-age=31536000, immutable",
			"X-Content-Type-Options": "nosniff",
			"ETag":                   `"` + hash + `"`,
		} {
			if got := w.Header().Get(k); got != v {
				t.Errorf("GET %s: %s %q, want %q", url, k, got, v)
			}
		}
	}
}

func TestAssetsInitImportsHashedJS(t *testing.T) {
	a, h := newTestAssets(t)
	js, err := a.Path("govuk-frontend/govuk-frontend.min.js")
	if err != nil {
		t.Fatal(err)
	}
	initURL, err := a.Path("init.js")
	if err != nil {
		t.Fatal(err)
	}
	body := serveAsset(h, http.MethodGet, initURL, nil).Body.String()
	if !strings.Contains(body, `import { initAll } from "`+js+`";`) || strings.Contains(body, govukJSPlaceholder) {
		t.Errorf("init.js does not import %s:\n%s", js, body)
	}
	if !strings.Contains(body, "govuk-frontend-supported") || !strings.Contains(body, "initAll()") {
		t.Errorf("init.js:\n%s", body)
	}
}

// TestAssetsCSSURLs checks that every url(...) in govuk-frontend's CSS,
// fonts and images at fixed URLs, resolves.
func TestAssetsCSSURLs(t *testing.T) {
	a, h := newTestAssets(t)
	css, err := a.Path("govuk-frontend/govuk-frontend.min.css")
	if err != nil {
		t.Fatal(err)
	}
	body := serveAsset(h, http.MethodGet, css, nil).Body.String()
	urls := regexp.MustCompile(`url\(["']?([^"')]+)["']?\)`).FindAllStringSubmatch(body, -1)
	if len(urls) == 0 {
		t.Fatal("no url(...) in the CSS")
	}
	for _, m := range urls {
		url := m[1]
		if strings.HasPrefix(url, "data:") {
			continue
		}
		w := serveAsset(h, http.MethodGet, url, nil)
		if w.Code != http.StatusOK || w.Body.Len() == 0 {
			t.Errorf("CSS url(%s): %d, %d bytes", url, w.Code, w.Body.Len())
			continue
		}
		cache := "public, max-age=86400"
		if strings.HasPrefix(url, "/assets/fonts/") { // bold-b542beb274-v2.woff2
			cache = "public, max-age=31536000, immutable"
		}
		if got := w.Header().Get("Cache-Control"); got != cache {
			t.Errorf("CSS url(%s): Cache-Control %q, want %q", url, got, cache)
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "font/") && !strings.HasPrefix(ct, "image/") {
			t.Errorf("CSS url(%s): Content-Type %q", url, ct)
		}
	}

	// The manifest names its icons relative to itself.
	w := serveAsset(h, http.MethodGet, "/assets/manifest.json", nil)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("manifest.json: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	for _, m := range regexp.MustCompile(`"src": "([^"]+)"`).FindAllStringSubmatch(w.Body.String(), -1) {
		if code := serveAsset(h, http.MethodGet, "/assets/"+m[1], nil).Code; code != http.StatusOK {
			t.Errorf("manifest icon %s: %d", m[1], code)
		}
	}
}

func TestAssetsNotFound(t *testing.T) {
	a, h := newTestAssets(t)
	for _, target := range []string{
		"/assets/nope.css",
		"/assets/govuk-frontend/govuk-frontend.min.css", // unhashed
		"/assets/govuk-frontend/govuk-frontend.min.0000000000.css",
		"/assets/govuk-frontend/VERSION",
		"/assets/govuk-frontend/LICENSE",
		"/assets/",
		"/assets/govuk-frontend/",
		"/assets/fonts/",
		"/assets/../go.mod",
		"/assets/%2e%2e/go.mod",
		"/assets/../../go.mod",
		"/assets/fonts/../../../go.mod",
	} {
		w := serveAsset(h, http.MethodGet, target, nil)
		if w.Code != http.StatusNotFound || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
			t.Errorf("GET %s: %d %q, want 404 text/plain", target, w.Code, w.Header().Get("Content-Type"))
		}
	}
	if _, err := a.Path("nope.css"); err == nil {
		t.Error("Path(nope.css): no error")
	}
}

func TestAssetsConditionalAndHead(t *testing.T) {
	a, h := newTestAssets(t)
	url, err := a.Path("govuk-frontend/govuk-frontend.min.css")
	if err != nil {
		t.Fatal(err)
	}
	get := serveAsset(h, http.MethodGet, url, nil)
	etag := get.Header().Get("ETag")

	w := serveAsset(h, http.MethodGet, url, map[string]string{"If-None-Match": etag})
	if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Errorf("If-None-Match %s: %d, %d bytes", etag, w.Code, w.Body.Len())
	}
	w = serveAsset(h, http.MethodGet, url, map[string]string{"If-None-Match": `"0000000000"`})
	if w.Code != http.StatusOK {
		t.Errorf("If-None-Match of another hash: %d", w.Code)
	}

	w = serveAsset(h, http.MethodHead, url, nil)
	if w.Code != http.StatusOK || w.Body.Len() != 0 ||
		w.Header().Get("Content-Length") != get.Header().Get("Content-Length") ||
		w.Header().Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("HEAD %s: %d, %d bytes, %v", url, w.Code, w.Body.Len(), w.Header())
	}
}

func TestAssetsFuncMap(t *testing.T) {
	a, _ := newTestAssets(t)
	asset := a.FuncMap()["asset"].(func(string) (string, error))
	if url, err := asset("init.js"); err != nil || !strings.HasPrefix(url, "/assets/init.") {
		t.Errorf(`asset "init.js" = %q, %v`, url, err)
	}
	if _, err := asset("missing.js"); err == nil {
		t.Error(`asset "missing.js": no error`)
	}
}

func TestAssetsInitWithoutGOVUKJS(t *testing.T) {
	_, err := NewAssets(fstest.MapFS{"init.js": {Data: []byte(`import "__GOVUK_FRONTEND_JS__";`)}})
	if err == nil {
		t.Error("NewAssets: no error for init.js without govuk-frontend.min.js")
	}
}

// TestAssetsFavicon: /favicon.ico, which browsers ask for whatever the
// page links, is GOV.UK Frontend's icon.
func TestAssetsFavicon(t *testing.T) {
	a, h := newTestAssets(t)
	r := h.(*gin.Engine)
	r.GET("/favicon.ico", a.Favicon)
	r.HEAD("/favicon.ico", a.Favicon)
	want, err := os.ReadFile("../templates/assets/govuk-frontend/assets/images/favicon.ico")
	if err != nil {
		t.Fatal(err)
	}
	w := serveAsset(h, http.MethodGet, "/favicon.ico", nil)
	if w.Code != http.StatusOK || w.Body.String() != string(want) {
		t.Fatalf("GET /favicon.ico: %d, %d bytes, want the %d of GOV.UK Frontend's favicon", w.Code, w.Body.Len(), len(want))
	}
	if ct, cc := w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"); ct != "image/x-icon" || cc != "public, max-age=86400" {
		t.Errorf("GET /favicon.ico: Content-Type %q, Cache-Control %q", ct, cc)
	}
	if w := serveAsset(h, http.MethodHead, "/favicon.ico", nil); w.Code != http.StatusOK {
		t.Errorf("HEAD /favicon.ico: %d", w.Code)
	}
	if w := serveAsset(h, http.MethodGet, "/favicon.ico", map[string]string{"If-None-Match": w.Header().Get("ETag")}); w.Code != http.StatusNotModified {
		t.Errorf("GET /favicon.ico with its ETag: %d, want 304", w.Code)
	}
}
