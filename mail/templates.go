package mail

import (
	"bytes"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode"

	"email-alert/internal/lib/locale"
	"email-alert/internal/lib/textcheck"
	"email-alert/templates"
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
// "Subject: …" and the rest the body, in English or Welsh: a template's
// words are messages of the catalogues (templates.Locales), called as
// {{t "key"}} (see locale.Catalogue.Funcs).
type Templates struct {
	sets    map[string]*template.Template // by language
	locales *locale.Catalogue
}

// ParseTemplates parses every template in fsys (templates.Email), once for
// each language, and fails if one of the kinds above is missing or a
// catalogue is incomplete, so a bad build stops at start.
//
// Every value a template prints goes through oneLine: the template's own
// text makes the lines of an email, never the data. A title that holds
// "\r\nBcc: …\r\n\r\nYour account is locked" stays one line of the body
// (or of the subject) instead of becoming lines of its own.
func ParseTemplates(fsys fs.FS) (*Templates, error) {
	locales, err := locale.Parse(templates.Locales)
	if err != nil {
		return nil, err
	}
	t := &Templates{sets: map[string]*template.Template{}, locales: locales}
	for _, lang := range locale.Languages {
		set, err := template.New("").Option("missingkey=error").Funcs(locales.Funcs(lang)).Funcs(template.FuncMap{valueFunc: oneLine}).
			ParseFS(fsys, "email/*.txt")
		if err != nil {
			return nil, fmt.Errorf("email templates: %w", err)
		}
		for _, kind := range kinds {
			if set.Lookup(kind+".txt") == nil {
				return nil, fmt.Errorf("email templates: %s.txt is missing", kind)
			}
		}
		for _, t := range set.Templates() {
			if t.Tree != nil {
				printValues(t.Tree, t.Root)
			}
		}
		t.sets[lang] = set
	}
	return t, nil
}

// Locales is the message catalogues the emails are written with, for the
// words their data carries (dates, say).
func (t *Templates) Locales() *locale.Catalogue { return t.locales }

// valueFunc is the name under which templates know oneLine.
const valueFunc = "mailValue"

// printValues makes every action under node that prints something print
// it through oneLine, as html/template adds its escapers.
func printValues(tree *parse.Tree, node parse.Node) {
	switch n := node.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, c := range n.Nodes {
				printValues(tree, c)
			}
		}
	case *parse.ActionNode:
		if len(n.Pipe.Decl) == 0 { // {{$x := …}} prints nothing
			n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand,
				Args: []parse.Node{parse.NewIdentifier(valueFunc).SetTree(tree).SetPos(n.Pos)}})
		}
	case *parse.IfNode:
		printValues(tree, n.List)
		printValues(tree, n.ElseList)
	case *parse.RangeNode:
		printValues(tree, n.List)
		printValues(tree, n.ElseList)
	case *parse.WithNode:
		printValues(tree, n.List)
		printValues(tree, n.ElseList)
	}
}

// oneLine prints v as text/template would, with every control character
// (line breaks included), line or paragraph separator and bidi control
// replaced by a space.
func oneLine(v any) string {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	s := "<no value>"
	if rv.IsValid() && (rv.Kind() != reflect.Pointer || !rv.IsNil()) {
		s = fmt.Sprint(rv.Interface())
	}
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cc, r) || r == '\u2028' || r == '\u2029' || textcheck.IsBidiControl(r) {
			return ' '
		}
		return r
	}, s)
}

// Render renders the email of kind to address with data, in lang (en or
// cy; anything else is English).
func (t *Templates) Render(kind, lang, to string, data any) (Email, error) {
	set, ok := t.sets[lang]
	if !ok {
		set = t.sets[locale.English]
	}
	var buf bytes.Buffer
	if err := set.ExecuteTemplate(&buf, kind+".txt", data); err != nil {
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
