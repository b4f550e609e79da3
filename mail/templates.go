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
// "Subject: …" and the rest the body.
type Templates struct {
	set *template.Template
}

// ParseTemplates parses every template in fsys (templates.Email) and fails
// if one of the kinds above is missing, so a bad build stops at start.
//
// Every value a template prints goes through oneLine: the template's own
// text makes the lines of an email, never the data. A title that holds
// "\r\nBcc: …\r\n\r\nYour account is locked" stays one line of the body
// (or of the subject) instead of becoming lines of its own.
func ParseTemplates(fsys fs.FS) (*Templates, error) {
	set, err := template.New("").Option("missingkey=error").Funcs(templates.Funcs()).Funcs(template.FuncMap{valueFunc: oneLine}).
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
	return &Templates{set: set}, nil
}

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
