package frontend

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/andybalholm/brotli"
	"github.com/gin-gonic/gin"
	"github.com/klauspost/compress/gzip"
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
		cache := "public, max-age=3600, stale-while-revalidate=86400"
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
	if ct, cc := w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"); ct != "image/x-icon" || cc != cacheRevalidate {
		t.Errorf("GET /favicon.ico: Content-Type %q, Cache-Control %q", ct, cc)
	}
	if w := serveAsset(h, http.MethodHead, "/favicon.ico", nil); w.Code != http.StatusOK {
		t.Errorf("HEAD /favicon.ico: %d", w.Code)
	}
	if w := serveAsset(h, http.MethodGet, "/favicon.ico", map[string]string{"If-None-Match": w.Header().Get("ETag")}); w.Code != http.StatusNotModified {
		t.Errorf("GET /favicon.ico with its ETag: %d, want 304", w.Code)
	}
}

func TestNegotiateEncoding(t *testing.T) {
	for _, tc := range []struct{ accept, want string }{
		{"", ""},
		{"identity", ""},
		{"gzip", "gzip"},
		{"x-gzip", "gzip"},
		{"br", "br"},
		{"gzip, deflate, br, zstd", "br"}, // browsers: a tie goes to brotli
		{"GZIP, BR", "br"},
		{"br;q=0.5, gzip", "gzip"},
		{"br;q=0, gzip;q=0", ""},
		{"br;q=0.2, identity;q=0.5", ""},
		{"br;q=0.5, identity;q=0.5", "br"},
		{"*", "br"},
		{"*;q=0.3, gzip;q=0.8", "gzip"},
		{"br;q=0, *", "gzip"},
		{"*;q=0", ""},
		{"br;q=high, gzip", "gzip"}, // a malformed weight drops its coding
		{"br;q=1.5", ""},
		{"deflate", ""},
		{" , ;q=1,", ""},
	} {
		if got := negotiateEncoding(tc.accept); got != tc.want {
			t.Errorf("negotiateEncoding(%q) = %q, want %q", tc.accept, got, tc.want)
		}
	}
}

// TestAssetsCompressed checks that text assets go out in the coding the
// client prefers, decompress to the file, vary on Accept-Encoding whatever
// was sent, and have an ETag per coding; fonts and PNGs are sent as they are.
func TestAssetsCompressed(t *testing.T) {
	a, h := newTestAssets(t)
	css, err := a.Path("govuk-frontend/govuk-frontend.min.css")
	if err != nil {
		t.Fatal(err)
	}
	original, err := os.ReadFile("../templates/assets/govuk-frontend/govuk-frontend.min.css")
	if err != nil {
		t.Fatal(err)
	}
	decoders := map[string]func(io.Reader) (io.Reader, error){
		"":     func(r io.Reader) (io.Reader, error) { return r, nil },
		"br":   func(r io.Reader) (io.Reader, error) { return brotli.NewReader(r), nil },
		"gzip": func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) },
	}
	etags := map[string]bool{}
	for _, target := range []string{css, "/assets/images/govuk-crest.svg"} {
		for _, tc := range []struct{ accept, encoding string }{
			{"", ""},
			{"gzip, deflate, br, zstd", "br"},
			{"gzip", "gzip"},
			{"br;q=0.1, gzip", "gzip"},
			{"identity", ""},
		} {
			w := serveAsset(h, http.MethodGet, target, map[string]string{"Accept-Encoding": tc.accept})
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s (Accept-Encoding %q): %d", target, tc.accept, w.Code)
			}
			if got := w.Header().Get("Content-Encoding"); got != tc.encoding {
				t.Errorf("GET %s (Accept-Encoding %q): Content-Encoding %q, want %q", target, tc.accept, got, tc.encoding)
			}
			if got := w.Header().Get("Vary"); got != "Accept-Encoding" {
				t.Errorf("GET %s (Accept-Encoding %q): Vary %q, want Accept-Encoding", target, tc.accept, got)
			}
			if cl := w.Header().Get("Content-Length"); cl != strconv.Itoa(w.Body.Len()) {
				t.Errorf("GET %s (Accept-Encoding %q): Content-Length %s for %d bytes", target, tc.accept, cl, w.Body.Len())
			}
			r, err := decoders[tc.encoding](bytes.NewReader(w.Body.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("GET %s (%s): %v", target, tc.encoding, err)
			}
			if target == css && !bytes.Equal(body, original) {
				t.Errorf("GET %s (%s): body is not the CSS file", target, tc.encoding)
			}
			if tc.encoding != "" && w.Body.Len() >= len(body)/2 {
				t.Errorf("GET %s (%s): %d bytes for %d", target, tc.encoding, w.Body.Len(), len(body))
			}
			etag := w.Header().Get("ETag")
			etags[target+" "+etag] = true
			again := serveAsset(h, http.MethodGet, target, map[string]string{"Accept-Encoding": tc.accept, "If-None-Match": etag})
			if again.Code != http.StatusNotModified {
				t.Errorf("GET %s (%s) If-None-Match %s: %d, want 304", target, tc.encoding, etag, again.Code)
			}
		}
	}
	if len(etags) != 6 {
		t.Errorf("ETags %v: want one per file and coding", etags)
	}

	for _, target := range []string{"/assets/fonts/bold-b542beb274-v2.woff2", "/assets/images/govuk-icon-192.png"} {
		w := serveAsset(h, http.MethodGet, target, map[string]string{"Accept-Encoding": "br, gzip"})
		if w.Code != http.StatusOK || w.Header().Get("Content-Encoding") != "" || w.Header().Get("Vary") != "" {
			t.Errorf("GET %s: %d, Content-Encoding %q, Vary %q; want 200 as it is", target, w.Code,
				w.Header().Get("Content-Encoding"), w.Header().Get("Vary"))
		}
	}
}

// TestAssetsCacheLifetimes checks the Cache-Control of each kind of URL:
// hashed URLs for a year, fixed ones for an hour and then revalidated.
func TestAssetsCacheLifetimes(t *testing.T) {
	a, h := newTestAssets(t)
	css, err := a.Path("govuk-frontend/govuk-frontend.min.css")
	if err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]string{
		css:                                        "public, max-age=31536000, immutable",
		"/assets/fonts/bold-b542beb274-v2.woff2":   "public, max-age=31536000, immutable",
		"/assets/images/govuk-crest.svg":           "public, max-age=3600, stale-while-revalidate=86400",
		"/assets/images/favicon.ico":               "public, max-age=3600, stale-while-revalidate=86400",
		"/assets/images/govuk-opengraph-image.png": "public, max-age=3600, stale-while-revalidate=86400",
		"/assets/manifest.json":                    "public, max-age=3600, stale-while-revalidate=86400",
	} {
		w := serveAsset(h, http.MethodGet, target, nil)
		if got := w.Header().Get("Cache-Control"); w.Code != http.StatusOK || got != want {
			t.Errorf("GET %s: %d, Cache-Control %q, want %q", target, w.Code, got, want)
		}
		etag := w.Header().Get("ETag")
		if etag == "" {
			t.Errorf("GET %s: no ETag to revalidate with", target)
		}
		if code := serveAsset(h, http.MethodGet, target, map[string]string{"If-None-Match": etag}).Code; code != http.StatusNotModified {
			t.Errorf("GET %s If-None-Match %s: %d, want 304", target, etag, code)
		}
	}
}

// TestAssetVariantsCurrent checks that every compressible file of
// templates/assets has its variants, and that each decompresses to the
// file: a file changed without `go generate ./templates` fails here.
func TestAssetVariantsCurrent(t *testing.T) {
	fsys := os.DirFS("../templates/assets")
	checked := 0
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || assetTypes[path.Ext(name)] == "" {
			return err
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil || !Compressible(name, len(body)) {
			return err
		}
		for _, enc := range Encodings {
			compressed, err := fs.ReadFile(fsys, name+enc.Suffix)
			if err != nil {
				t.Errorf("%s: %v (run go generate ./templates)", name, err)
				continue
			}
			decoded, err := enc.Decode(compressed)
			if err != nil || !bytes.Equal(decoded, body) {
				t.Errorf("%s%s does not decompress to %s (%v): run go generate ./templates", name, enc.Suffix, name, err)
			}
			checked++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 2*4 { // the CSS, the JS, the crest and the favicon at least
		t.Errorf("only %d variants checked", checked)
	}
}

func TestAssetsVariantMissing(t *testing.T) {
	css := bytes.Repeat([]byte("body{color:#0b0c0c}\n"), 100)
	_, err := NewAssets(fstest.MapFS{"a.css": {Data: css}, "a.css.br": {Data: []byte("x")}})
	if err == nil || !strings.Contains(err.Error(), "a.css.gz") {
		t.Errorf("NewAssets without a.css.gz: %v", err)
	}
	small := []byte("body{}")
	if _, err := NewAssets(fstest.MapFS{"b.css": {Data: small}, "govuk-frontend/assets/images/favicon.ico": {Data: []byte("icon")}}); err != nil {
		t.Errorf("NewAssets of a file too small to compress: %v", err)
	}
}
