package textcheck_test

import (
	"errors"
	"testing"

	"email-alert/internal/lib/textcheck"
)

func TestChecks(t *testing.T) {
	hostile := "Tax\r\nBcc: eve@example.com\r\n\r\nYour account is locked, visit http://evil.example"
	tests := []struct {
		name  string
		check func(string) error
		in    string
		want  error
	}{
		{"line: plain", textcheck.Line, "Tax news", nil},
		{"line: Welsh", textcheck.Line, "Newyddion am dreth: ŵyl", nil},
		{"line: emoji with a joiner", textcheck.Line, "Family 👩\u200d👧", nil},
		{"line: header injection", textcheck.Line, hostile, textcheck.ErrLineBreak},
		{"line: LF", textcheck.Line, "a\nb", textcheck.ErrLineBreak},
		{"line: NEL", textcheck.Line, "a\u0085b", textcheck.ErrLineBreak},
		{"line: line separator", textcheck.Line, "a\u2028b", textcheck.ErrLineBreak},
		{"line: NUL", textcheck.Line, "a\x00b", textcheck.ErrControl},
		{"line: tab", textcheck.Line, "a\tb", textcheck.ErrControl},
		{"line: escape", textcheck.Line, "a\x1b[31mb", textcheck.ErrControl},
		{"line: DEL", textcheck.Line, "a\x7fb", textcheck.ErrControl},
		{"line: C1", textcheck.Line, "a\u009bb", textcheck.ErrControl},
		{"line: RTL override", textcheck.Line, "moc.elpmaxe\u202e", textcheck.ErrBidi},
		{"line: isolate", textcheck.Line, "a\u2067b", textcheck.ErrBidi},
		{"line: RTL mark", textcheck.Line, "a\u200fb", textcheck.ErrBidi},
		{"line: Arabic letter mark", textcheck.Line, "a\u061cb", textcheck.ErrBidi},
		{"line: invalid UTF-8", textcheck.Line, "a\xffb", textcheck.ErrInvalidUTF8},
		{"text: paragraphs", textcheck.Text, "One.\n\nTwo.", nil},
		{"text: CR", textcheck.Text, "One.\r\nTwo.", textcheck.ErrControl},
		{"text: paragraph separator", textcheck.Text, "One.\u2029Two.", textcheck.ErrControl},
		{"text: NUL", textcheck.Text, "a\x00b", textcheck.ErrControl},
		{"text: bidi", textcheck.Text, "a\u202ab", textcheck.ErrBidi},
		{"path: plain", textcheck.Path, "/government/tax?x=1#y", nil},
		{"path: space", textcheck.Path, "/tax news", textcheck.ErrWhitespace},
		{"path: no-break space", textcheck.Path, "/tax\u00a0news", textcheck.ErrWhitespace},
		{"path: ideographic space", textcheck.Path, "/tax\u3000news", textcheck.ErrWhitespace},
		{"path: CRLF", textcheck.Path, "/x\r\nSet-Cookie: a=b", textcheck.ErrLineBreak},
		{"path: tab", textcheck.Path, "/x\ty", textcheck.ErrControl},
		{"path: bidi", textcheck.Path, "/x\u202ey", textcheck.ErrBidi},
		{"path: absolute", textcheck.Path, "https://evil.example/", textcheck.ErrNotRootPath},
		{"path: protocol-relative", textcheck.Path, "//evil.example/", textcheck.ErrNotRootPath},
		{"path: backslash", textcheck.Path, `/\evil.example`, textcheck.ErrNotRootPath},
		{"path: relative", textcheck.Path, "tax", textcheck.ErrNotRootPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.check(tt.in); !errors.Is(err, tt.want) {
				t.Errorf("check(%q) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

// TestTooLong: the API's words for a value over its limit, which clients
// and the tests of every API that checks a length read.
func TestTooLong(t *testing.T) {
	if got, want := textcheck.TooLong(1000), "is too long (maximum is 1000 characters)"; got != want {
		t.Errorf("TooLong(1000) = %q, want %q", got, want)
	}
}
