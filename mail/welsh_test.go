package mail_test

import (
	"strings"
	"testing"
	"time"

	"email-alert/mail"
	"email-alert/templates"
)

// emailData is data every kind of email renders with.
var emailData = map[string]map[string]any{
	mail.KindSignIn:              {"Link": "http://l/1", "ManageURL": "http://l/m", "Expiry": 24 * time.Hour},
	mail.KindConfirmSubscription: {"Link": "http://l/1", "Title": "Tax news", "Frequency": "weekly", "Expiry": 7 * 24 * time.Hour},
	mail.KindSubscribed:          {"Title": "Tax news", "Frequency": "daily", "URL": "https://www.gov.uk/tax", "ManageURL": "http://l/m", "UnsubscribeURL": "http://l/u"},
	mail.KindUseOneLogin:         {"SignInURL": "http://l/s"},
	mail.KindAccountLinked:       {"SignInURL": "http://l/s", "Subscriptions": []map[string]any{{"Title": "Tax news", "Frequency": "immediately"}}},
	mail.KindConfirmAddress:      {"Link": "http://l/1", "OldAddress": "old@example.com", "Expiry": 24 * time.Hour},
}

// TestEmailsInWelsh: every kind of email renders in both languages, the
// Welsh one with none of the English one's sentences, each with its
// subject and sign-off in its own language.
func TestEmailsInWelsh(t *testing.T) {
	set, err := mail.ParseTemplates(templates.Email)
	if err != nil {
		t.Fatal(err)
	}
	for kind, data := range emailData {
		en, err := set.Render(kind, "en", "ann@example.com", data)
		if err != nil {
			t.Fatalf("%s in English: %v", kind, err)
		}
		cy, err := set.Render(kind, "cy", "ann@example.com", data)
		if err != nil {
			t.Fatalf("%s in Welsh: %v", kind, err)
		}
		if cy.Subject == en.Subject || !strings.HasSuffix(cy.Body, "\nNegeseuon e-bost GOV.UK\n") || !strings.HasSuffix(en.Body, "\nGOV.UK emails\n") {
			t.Errorf("%s: subjects %q / %q; Welsh body:\n%s", kind, en.Subject, cy.Subject, cy.Body)
		}
		for _, line := range strings.Split(en.Body, "\n") {
			// Lines of the data alone (titles, links) are the same in both.
			if len(line) > 12 && strings.Contains(line, " ") && !strings.Contains(line, "Tax news") && strings.Contains(cy.Body, line) {
				t.Errorf("%s: the Welsh email has the English line %q", kind, line)
			}
		}
	}
	cy, _ := set.Render(mail.KindConfirmSubscription, "cy", "ann@example.com", emailData[mail.KindConfirmSubscription])
	for _, want := range []string{"Gwnaethoch ofyn am negeseuon e-bost unwaith yr wythnos", "ar ôl 7 diwrnod"} {
		if !strings.Contains(cy.Body, want) {
			t.Errorf("Welsh confirmation lacks %q:\n%s", want, cy.Body)
		}
	}
	// A language that is neither is English.
	if e, _ := set.Render(mail.KindSignIn, "fr", "ann@example.com", emailData[mail.KindSignIn]); !strings.HasSuffix(e.Body, "GOV.UK emails\n") {
		t.Errorf("an email in fr: %s", e.Body)
	}
}

// TestRenderHostileValuesInWelsh: a value filled into a Welsh sentence is
// still printed on one line.
func TestRenderHostileValuesInWelsh(t *testing.T) {
	set, err := mail.ParseTemplates(templates.Email)
	if err != nil {
		t.Fatal(err)
	}
	e, err := set.Render(mail.KindSubscribed, "cy", "ann@example.com", map[string]any{
		"Title": "Tax\r\nBcc: eve@example.com", "URL": "", "Frequency": "daily", "ManageURL": "m", "UnsubscribeURL": "u",
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(e.Subject, "\r\n") || strings.Contains(e.Body, "\nBcc:") {
		t.Errorf("a value made a line of its own: %q\n%s", e.Subject, e.Body)
	}
}
