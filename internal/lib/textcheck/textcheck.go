// Package textcheck says whether text a client sends is fit to store and to
// put in an email or a page: the one check behind every API write of a
// title, a description, a change note, a url or a base_path.
//
// Text that reaches an email is never allowed to carry what could change
// its shape: no control character (Unicode category Cc: CR, LF, NUL, ESC,
// NEL…), except a line feed where a value is prose of several lines; no
// line or paragraph separator; and no bidirectional control, which would
// make the text read differently from how it is stored (an address or a
// link that looks like another). A path is a root-relative path with no
// whitespace at all.
package textcheck

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The problems the checks report. Their messages are written to follow a
// field name in an API error's details ("title": ["must not contain …"]).
var (
	ErrInvalidUTF8 = errors.New("must be valid UTF-8 text")
	ErrControl     = errors.New("must not contain control characters")
	ErrLineBreak   = errors.New("must be one line")
	ErrBidi        = errors.New("must not contain bidirectional override characters")
	ErrWhitespace  = errors.New("must not contain whitespace")
	ErrNotRootPath = errors.New("must be a path on GOV.UK starting with /")
)

// TooLong is the problem of a value over its length limit of max
// characters, written like the errors above to follow a field name.
func TooLong(max int) string {
	return fmt.Sprintf("is too long (maximum is %d characters)", max)
}

// Line checks a one-line value, such as a title: no control character and
// no line break of any kind.
func Line(s string) error { return check(s, false) }

// Text checks prose that may run over several lines, such as a description
// or a change note: Line's rules, except that \n separates lines.
func Text(s string) error { return check(s, true) }

// Path checks a root-relative path, such as a url or a base_path: Line's
// rules, no whitespace, a leading / and neither // nor /\ at the start
// (which browsers read as another host).
func Path(s string) error {
	if err := Line(s); err != nil {
		return err
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return ErrWhitespace
	}
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, `/\`) {
		return ErrNotRootPath
	}
	return nil
}

func check(s string, lines bool) error {
	if !utf8.ValidString(s) {
		return ErrInvalidUTF8
	}
	for _, r := range s {
		lineBreak := r == '\n' || r == '\r' || r == '\u0085' || r == '\u2028' || r == '\u2029'
		switch {
		case r == '\n' && lines:
		case lineBreak && !lines:
			return ErrLineBreak
		case lineBreak || unicode.Is(unicode.Cc, r):
			return ErrControl
		case IsBidiControl(r):
			return ErrBidi
		}
	}
	return nil
}

// IsBidiControl reports whether r changes the direction text is shown in:
// the embeddings and overrides U+202A–U+202E, the isolates U+2066–U+2069,
// and the marks U+200E, U+200F and U+061C. None has a place in a title,
// a path or an address.
func IsBidiControl(r rune) bool {
	return (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069') ||
		r == '\u200e' || r == '\u200f' || r == '\u061c'
}
