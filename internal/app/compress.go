package app

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/klauspost/compress/gzhttp"
)

// compressMinSize is the smallest HTML or JSON response compressed. Pages
// (over 8 KiB with the layout) are compressed; the common API answers, such
// as a subscriber's few subscriptions, are smaller and go out as they are,
// so the hot reads pay nothing but the Vary header.
const compressMinSize = 4 << 10

// newCompressor returns the wrapper that compresses HTML and JSON responses
// of compressMinSize and over, gzip or zstd as Accept-Encoding prefers,
// adding Vary: Accept-Encoding to every response. Responses that already
// have a Content-Encoding (the precompressed assets, Prometheus's own gzip)
// pass through, as do those marked by uncompressed.
func newCompressor() (func(http.Handler) http.HandlerFunc, error) {
	return gzhttp.NewWrapper(
		gzhttp.MinSize(compressMinSize),
		gzhttp.ContentTypes([]string{"text/html", "application/json"}),
	)
}

// uncompressed keeps the response from being compressed. A compressed
// response that holds a secret next to text an attacker can choose lets
// them guess the secret from its length (BREACH); such responses go out
// as they are.
func uncompressed(c *gin.Context) {
	c.Header(gzhttp.HeaderNoCompression, "1")
	c.Next()
}

// secretParams are the request parameters that carry a secret a page may
// repeat: the token of every emailed link (sign in, confirm a subscription
// or an address, unsubscribe), and One Login's authorisation code and state.
var secretParams = []string{"token", "code", "state"}

// uncompressedWithSecret applies uncompressed to every page request that
// carries one of secretParams in its query or form. It decides by the
// request, not by route, so a new page behind an emailed link is covered
// without being listed. Run it after ReadForm. No other page holds a
// secret: sessions live in cookies, and forms are protected by Go's
// cross-origin check, not by tokens in the page.
func uncompressedWithSecret(c *gin.Context) {
	query := c.Request.URL.Query()
	for _, name := range secretParams {
		if query.Has(name) || c.Request.PostForm.Has(name) {
			uncompressed(c)
			return
		}
	}
	c.Next()
}
