package mail_test

import (
	"strings"
	"testing"

	"email-alert/mail"
	"email-alert/templates"
)

// TestRenderHostileValues: a value holding line breaks and a bidi override
// is printed as one value, so it adds no header-like line to the top of
// the body and no line anywhere else.
func TestRenderHostileValues(t *testing.T) {
	set, err := mail.ParseTemplates(templates.Email)
	if err != nil {
		t.Fatal(err)
	}
	hostile := "Tax\r\nBcc: eve@example.com\r\n\r\nYour account is locked, visit http://evil.example\u2028\u202e"
	url := "/tax\nSee http://evil.example"
	e, err := set.Render(mail.KindSubscribed, "en", "ann@example.com", map[string]any{
		"Title": hostile, "URL": &url, "Frequency": "daily",
		"ManageURL": "http://localhost:3000/email/manage", "UnsubscribeURL": "http://localhost:3000/u",
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(e.Subject, "\r\n") || !strings.Contains(e.Subject, "Your account is locked") {
		t.Errorf("subject %q, want the whole title on one line", e.Subject)
	}
	lines := strings.Split(e.Body, "\n")
	if lines[0] != "You’ve subscribed to GOV.UK emails about:" {
		t.Errorf("body starts %q, want the template's own first line", lines[0])
	}
	var titleLines, urlLines int
	for _, line := range lines {
		if strings.ContainsAny(line, "\r\u2028\u202e") {
			t.Errorf("line %q carries a control character", line)
		}
		if strings.HasPrefix(line, "Bcc:") || strings.HasPrefix(line, "Your account") || strings.HasPrefix(line, "See http") {
			t.Errorf("a value made a line of its own: %q", line)
		}
		if strings.Contains(line, "Tax  Bcc: eve@example.com    Your account is locked") {
			titleLines++
		}
		if strings.Contains(line, "/tax See http://evil.example") {
			urlLines++
		}
	}
	if titleLines != 1 || urlLines != 1 {
		t.Errorf("title on %d lines and url on %d, want each on one:\n%s", titleLines, urlLines, e.Body)
	}
}
