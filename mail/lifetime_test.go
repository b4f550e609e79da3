package mail_test

import (
	"strings"
	"testing"
	"time"

	"email-alert/linking/magiclink"
	"email-alert/mail"
	"email-alert/templates"
)

// TestEmailLinkLifetime: the emails with a link say how long it works from
// the duration in their data, the one that set the token's expiry. Rendered
// with other durations, the words change, so a lifetime typed back into a
// template fails here.
func TestEmailLinkLifetime(t *testing.T) {
	set, err := mail.ParseTemplates(templates.Email)
	if err != nil {
		t.Fatal(err)
	}
	kinds := []struct {
		kind, sentence string // sentence: %s is the lifetime
		data           map[string]any
	}{
		{mail.KindSignIn, "The link will stop working after %s and can only be used once.",
			map[string]any{"Link": "http://localhost:3000/l", "ManageURL": "http://localhost:3000/m"}},
		{mail.KindConfirmSubscription, "The link will stop working after %s.",
			map[string]any{"Link": "http://localhost:3000/l", "Title": "Tax", "Frequency": "daily"}},
		{mail.KindConfirmAddress, "The link will stop working after %s. Until you click it, your emails keep going to your old address.",
			map[string]any{"Link": "http://localhost:3000/l", "OldAddress": "ann@example.com"}},
	}
	for _, k := range kinds {
		for _, d := range []time.Duration{24 * time.Hour, 7 * 24 * time.Hour, 3 * 24 * time.Hour, 90 * time.Minute} {
			k.data["Expiry"] = d
			e, err := set.Render(k.kind, "en", "ann@example.com", k.data)
			if err != nil {
				t.Fatalf("%s, %v: %v", k.kind, d, err)
			}
			want := strings.Replace(k.sentence, "%s", set.Locales().Lifetime("en", d), 1)
			if !strings.Contains(e.Body, "\n"+want+"\n") {
				t.Errorf("%s with a %v link: body lacks the line %q:\n%s", k.kind, d, want, e.Body)
			}
		}
		k.data["Expiry"] = "24 hours"
		if _, err := set.Render(k.kind, "en", "ann@example.com", k.data); err == nil {
			t.Errorf("%s rendered with the lifetime as text; want an error asking for the duration", k.kind)
		}
	}
}

// TestEmailLinkLifetimeToday: with today's lifetimes the emails say what
// they said when the words were typed into the templates.
func TestEmailLinkLifetimeToday(t *testing.T) {
	set, err := mail.ParseTemplates(templates.Email)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		kind string
		data map[string]any
		line string
	}{
		{mail.KindSignIn, map[string]any{"Link": "l", "ManageURL": "m", "Expiry": magiclink.SignInTTL},
			"The link will stop working after 24 hours and can only be used once."},
		{mail.KindConfirmSubscription, map[string]any{"Link": "l", "Title": "Tax", "Frequency": "daily", "Expiry": magiclink.ConfirmTTL},
			"The link will stop working after 7 days."},
		{mail.KindConfirmAddress, map[string]any{"Link": "l", "OldAddress": "ann@example.com", "Expiry": magiclink.ChangeAddressTTL},
			"The link will stop working after 24 hours. Until you click it, your emails keep going to your old address."},
		{mail.KindSignIn, map[string]any{"Link": "l", "ManageURL": "m", "Expiry": magiclink.SignInTTL, "lang": "cy"},
			"Bydd y ddolen yn stopio gweithio ar ôl 24 awr a dim ond unwaith y gellir ei defnyddio."},
		{mail.KindConfirmSubscription, map[string]any{"Link": "l", "Title": "Tax", "Frequency": "daily", "Expiry": magiclink.ConfirmTTL, "lang": "cy"},
			"Bydd y ddolen yn stopio gweithio ar ôl 7 diwrnod."},
	} {
		lang, _ := c.data["lang"].(string)
		if lang == "" {
			lang = "en"
		}
		e, err := set.Render(c.kind, lang, "ann@example.com", c.data)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(e.Body, "\n"+c.line+"\n") {
			t.Errorf("%s: body lacks the line %q:\n%s", c.kind, c.line, e.Body)
		}
	}
}
