package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// smtpTimeout bounds the dial and every SMTP command of a delivery.
const smtpTimeout = 10 * time.Second

// SMTPSender delivers messages to an SMTP server: a relay, or a local mail
// catcher such as Mailpit. It opens one connection per message and is safe
// for concurrent use.
type SMTPSender struct {
	host        string
	port        int
	implicitTLS bool // smtps: TLS from the first byte; smtp: STARTTLS when offered
	username    string
	password    string // never logged, never put in an error
	from        string // the From header, e.g. "GOV.UK emails <noreply@localhost>"
	idDomain    string // the right-hand side of Message-IDs: the service's host
	timeout     time.Duration
	tlsConfig   *tls.Config // used for STARTTLS and smtps; tests swap in their own roots
}

// NewSMTPSender returns a sender for the server at rawURL, which is
// smtp://[user:pass@]host[:port] (port 25 by default; STARTTLS is used when
// the server offers it, plain SMTP otherwise) or smtps://[user:pass@]host[:port]
// (implicit TLS, port 465 by default). User and password, percent-encoded
// in the URL, enable AUTH PLAIN or LOGIN, which go-mail only performs over
// TLS or to localhost. from is the From header of every message, a
// net/mail address such as "GOV.UK emails <noreply@localhost>". idDomain
// ends every Message-ID: the host of PUBLIC_URL, a name the service owns
// (from's domain when empty). Errors never contain the password.
func NewSMTPSender(rawURL, from, idDomain string) (*SMTPSender, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// A *url.Error repeats the whole URL, password included: keep only its cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("parse SMTP URL: %w", err)
	}
	s := &SMTPSender{timeout: smtpTimeout}
	switch u.Scheme {
	case "smtp":
		s.port = gomail.DefaultPort
	case "smtps":
		s.implicitTLS = true
		s.port = gomail.DefaultPortSSL
	default:
		return nil, fmt.Errorf("SMTP URL scheme is %q, want smtp or smtps", u.Scheme)
	}
	s.host = u.Hostname()
	if s.host == "" {
		return nil, errors.New("SMTP URL has no host")
	}
	if p := u.Port(); p != "" {
		s.port, err = strconv.Atoi(p)
		if err != nil || s.port < 1 || s.port > 65535 {
			return nil, fmt.Errorf("SMTP URL port %q is not a port number", p)
		}
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("SMTP URL must not have a path, query or fragment")
	}
	if u.User != nil {
		s.username = u.User.Username()
		s.password, _ = u.User.Password()
		if s.username == "" && s.password != "" {
			return nil, errors.New("SMTP URL has a password but no user name")
		}
	}

	addr, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("parse from address %q: %w", from, err)
	}
	at := strings.LastIndexByte(addr.Address, '@')
	if at < 0 || at == len(addr.Address)-1 {
		return nil, fmt.Errorf("from address %q has no domain", from)
	}
	s.from = from
	s.idDomain = idDomain
	if s.idDomain == "" {
		s.idDomain = addr.Address[at+1:]
	}
	s.tlsConfig = &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
	return s, nil
}

// Send delivers m over a new connection and returns its Message-ID header,
// "<ID@domain-of-from>", as the reference. ctx bounds the whole exchange, and
// each step is also bounded by a 10 s timeout. A 5xx rejection of the
// recipient (RCPT TO) and an unparseable recipient address are returned as
// *PermanentError; anything else (connection failures, 4xx replies, other
// commands failing) is an ordinary error worth retrying.
func (s *SMTPSender) Send(ctx context.Context, m Message) (string, error) {
	msgID := m.ID.String() + "@" + s.idDomain
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return "", fmt.Errorf("email %s: from address: %w", m.ID, err)
	}
	if err := msg.To(m.To); err != nil {
		return "", &PermanentError{Err: fmt.Errorf("email %s: recipient address: %w", m.ID, err)}
	}
	msg.SetMessageIDWithValue(msgID)
	msg.SetDate()
	msg.SetUserAgent("email-alert")
	// RFC 3834: an automatic message, to which autoresponders must not reply.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeaderPreformatted(gomail.HeaderSubject, encodeSubject(m.Subject))
	if m.ListUnsubscribeURL != "" {
		if err := checkHeaderURL(m.ListUnsubscribeURL); err != nil {
			return "", fmt.Errorf("email %s: List-Unsubscribe: %w", m.ID, err)
		}
		// RFC 2369 and RFC 8058: mail clients show an unsubscribe button
		// and post List-Unsubscribe=One-Click to the URL. Preformatted, so
		// the URL is never folded. (go-mail's SetListUnsubscribeOneClick
		// refuses http, which local setups use.)
		msg.SetListUnsubscribe(m.ListUnsubscribeURL)
		msg.SetListUnsubscribePost()
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Body)

	// go-mail watches ctx only while dialling: after that, closing the
	// connection when ctx ends is what interrupts a stalled exchange.
	var stop func() bool
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	dial := func(dialCtx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{}
		var conn net.Conn
		var err error
		if s.implicitTLS {
			td := &tls.Dialer{NetDialer: d, Config: s.tlsConfig.Clone()}
			conn, err = td.DialContext(dialCtx, network, addr)
		} else {
			conn, err = d.DialContext(dialCtx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		stop = context.AfterFunc(ctx, func() { _ = conn.Close() })
		return conn, nil
	}

	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(s.timeout),
		gomail.WithTLSConfig(s.tlsConfig.Clone()),
		gomail.WithDialContextFunc(dial),
	}
	if s.implicitTLS {
		// The dialer above does the TLS; WithSSL stops go-mail trying STARTTLS too.
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if s.username != "" {
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(s.username),
			gomail.WithPassword(s.password))
	}
	client, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return "", fmt.Errorf("email %s: SMTP client: %w", m.ID, err)
	}

	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		err = fmt.Errorf("email %s via SMTP %s: %w", m.ID, net.JoinHostPort(s.host, strconv.Itoa(s.port)), err)
		if ctxErr := ctx.Err(); ctxErr != nil {
			return "", fmt.Errorf("%w: %w", ctxErr, err)
		}
		if recipientRejected(err) {
			return "", &PermanentError{Err: err}
		}
		return "", err
	}
	return "<" + msgID + ">", nil
}

// encodeSubject returns subject as the Subject header's value: as it is
// when it is ASCII, otherwise as RFC 2047 encoded words, folded between
// words. (go-mail's own folding puts a line break right after "Subject:"
// when the first encoded word is long, so that parsers read a leading space.)
// Render has made the subject one line.
func encodeSubject(subject string) string {
	encoded := mime.QEncoding.Encode("UTF-8", subject)
	if encoded == subject {
		return subject
	}
	// Whitespace between two encoded words is not part of the text (RFC
	// 2047, section 6.2), so the break there changes nothing.
	return strings.ReplaceAll(encoded, "?= =?", "?=\r\n =?")
}

// checkHeaderURL refuses a URL that cannot stand between angle brackets
// in a header as it is: one with a space, a control character or a bracket
// would end the header, or the URL, early. The service's own URLs
// (PUBLIC_URL and an encoded query) never have one.
func checkHeaderURL(u string) error {
	for _, r := range u {
		if r <= ' ' || r == 0x7f || r == '<' || r == '>' || r > 0x7e {
			return fmt.Errorf("URL has a character %q that a header cannot carry", r)
		}
	}
	return nil
}

// recipientRejected reports whether err carries a permanent (5xx) SMTP
// reply to RCPT TO: the server refuses the address, and asking again will
// not change its mind.
func recipientRejected(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) || se.Reason != gomail.ErrSMTPRcptTo || se.IsTemp() {
		return false
	}
	code := se.ErrorCode()
	return code >= 500 && code <= 599
}
