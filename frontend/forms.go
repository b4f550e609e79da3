package frontend

import (
	"errors"
	"mime"
	"net/http"

	"github.com/gin-gonic/gin"
)

// MaxFormBytes is the largest form body the pages accept: their forms hold
// an address, a token or a choice, never a file.
const MaxFormBytes = 64 << 10

// ReadForm parses the body of every POST before its handler runs, so that
// the handler's PostForm reads what was parsed here. Left to PostForm, a
// form would be read up to 10 MB (multipart without any limit, spooled to
// disk) and a body that is no form, or is badly encoded, would pass as an
// empty one. Here a body over MaxFormBytes gets 413, one of another
// Content-Type 415, and a malformed one 400, before anything is done.
func (p *Pages) ReadForm(c *gin.Context) {
	r := c.Request
	if r.Method != http.MethodPost || r.ContentLength == 0 {
		c.Next()
		return
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType != "application/x-www-form-urlencoded" && mediaType != "multipart/form-data" {
		p.badRequest(c, http.StatusUnsupportedMediaType)
		return
	}
	r.Body = http.MaxBytesReader(c.Writer, r.Body, MaxFormBytes)
	err := r.ParseForm()
	if err == nil && mediaType == "multipart/form-data" {
		err = r.ParseMultipartForm(MaxFormBytes)
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		p.badRequest(c, http.StatusRequestEntityTooLarge)
	case err != nil:
		p.badRequest(c, http.StatusBadRequest)
	default:
		c.Next()
	}
}

// MethodNotAllowed is the page for a known path asked with another method.
func (p *Pages) MethodNotAllowed(c *gin.Context) {
	p.badRequest(c, http.StatusMethodNotAllowed)
}

// badRequest ends a request the pages cannot make sense of with the error
// page and status.
func (p *Pages) badRequest(c *gin.Context, status int) {
	message := p.t(c, "error.go_back")
	if status == http.StatusRequestEntityTooLarge {
		message = p.t(c, "error.too_long")
	}
	p.render(c, status, "error", map[string]any{"Heading": p.t(c, "error.request"), "Message": message})
	c.Abort()
}
