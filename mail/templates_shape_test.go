package mail

import (
	"io/fs"
	"strings"
	"testing"

	"email-alert/templates"
)

// TestEmailTemplatesShape checks that each kind of email has a subject of
// its own, so a reader can tell them apart in a list, and ends with the
// sign-off: nothing, such as a bare link, comes after it.
func TestEmailTemplatesShape(t *testing.T) {
	subjects := map[string]string{}
	for _, kind := range kinds {
		raw, err := fs.ReadFile(templates.Email, "email/"+kind+".txt")
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(raw), "\n")
		subject := strings.TrimPrefix(first, "Subject: ")
		if other, ok := subjects[subject]; ok {
			t.Errorf("%s and %s share the subject %q", kind, other, subject)
		}
		subjects[subject] = kind
		if !strings.HasSuffix(strings.TrimSpace(string(raw)), "\n\n{{t \"email.signature\"}}") {
			t.Errorf("%s.txt does not end with the sign-off, GOV.UK emails", kind)
		}
	}
}
