package mail

import (
	"bytes"
	"fmt"
	"io/fs"
	"strings"
	"text/template"
)

// The kinds of email, each rendered from templates/email/<kind>.txt.
const (
	KindSignIn              = "sign_in"
	KindConfirmSubscription = "confirm_subscription"
	KindSubscribed          = "subscribed"
	KindUseOneLogin         = "use_one_login"
	KindAccountLinked       = "account_linked"
	KindConfirmAddress      = "confirm_address"
)

var kinds = []string{KindSignIn, KindConfirmSubscription, KindSubscribed, KindUseOneLogin, KindAccountLinked, KindConfirmAddress}

// Templates renders emails from plain-text templates whose first line is
// "Subject: …" and the rest the body.
type Templates struct {
	set *template.Template
}

// ParseTemplates parses every template in fsys (templates.Email) and fails
// if one of the kinds above is missing, so a bad build stops at start.
func ParseTemplates(fsys fs.FS) (*Templates, error) {
	set, err := template.New("").Option("missingkey=error").ParseFS(fsys, "email/*.txt")
	if err != nil {
		return nil, fmt.Errorf("email templates: %w", err)
	}
	for _, kind := range kinds {
		if set.Lookup(kind+".txt") == nil {
			return nil, fmt.Errorf("email templates: %s.txt is missing", kind)
		}
	}
	return &Templates{set: set}, nil
}

// Render renders the email of kind to address with data.
func (t *Templates) Render(kind, to string, data any) (Email, error) {
	var buf bytes.Buffer
	if err := t.set.ExecuteTemplate(&buf, kind+".txt", data); err != nil {
		return Email{}, fmt.Errorf("render %s email: %w", kind, err)
	}
	first, body, _ := strings.Cut(buf.String(), "\n")
	subject, ok := strings.CutPrefix(first, "Subject: ")
	if !ok {
		return Email{}, fmt.Errorf("render %s email: first line must be \"Subject: …\"", kind)
	}
	return Email{
		Kind:    kind,
		To:      to,
		Subject: strings.Join(strings.Fields(subject), " "), // one line, whatever the data held
		Body:    strings.TrimSpace(body) + "\n",
	}, nil
}
