package mail

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/google/uuid"
)

// smtpTLSMode says how the test server offers TLS.
type smtpTLSMode int

const (
	smtpNoTLS       smtpTLSMode = iota
	smtpSTARTTLS                // plain listener advertising STARTTLS
	smtpImplicitTLS             // TLS listener (smtps)
)

// receivedMail is one message accepted by the test server.
type receivedMail struct {
	From string
	To   []string
	Data []byte
	TLS  bool   // the session was encrypted
	User string // the authenticated user, if any
}

// smtpBackend is a go-smtp Backend that records what it accepts. Rejections
// maps a recipient address to the error its RCPT TO gets. When User is set,
// the server offers AUTH PLAIN and requires it before MAIL FROM.
type smtpBackend struct {
	User, Password string
	Rejections     map[string]*smtp.SMTPError

	mu       sync.Mutex
	received []receivedMail
}

func (b *smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &smtpSession{b: b, msg: receivedMail{TLS: isTLS}}, nil
}

func (b *smtpBackend) messages() []receivedMail {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]receivedMail(nil), b.received...)
}

type smtpSession struct {
	b   *smtpBackend
	msg receivedMail
}

func (s *smtpSession) AuthMechanisms() []string {
	if s.b.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || s.b.User == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.b.User || pass != s.b.Password {
			return smtp.ErrAuthFailed
		}
		s.msg.User = user
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.User != "" && s.msg.User == "" {
		return smtp.ErrAuthRequired
	}
	s.msg.From = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err, ok := s.b.Rejections[to]; ok {
		return err
	}
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := s.msg
	m.Data = data
	s.b.mu.Lock()
	s.b.received = append(s.b.received, m)
	s.b.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset() {
	s.msg = receivedMail{TLS: s.msg.TLS, User: s.msg.User}
}

func (s *smtpSession) Logout() error { return nil }

// testTLS returns a server certificate for 127.0.0.1 and the client config
// that trusts it.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test SMTP server"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}
	client = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	return server, client
}

// startSMTPServer serves be on 127.0.0.1 until the test ends and returns its
// address and the TLS config a client needs to trust it.
func startSMTPServer(t *testing.T, be *smtpBackend, mode smtpTLSMode) (addr string, clientTLS *tls.Config) {
	t.Helper()
	serverTLS, clientTLS := testTLS(t)
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	var l net.Listener
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case smtpSTARTTLS:
		srv.TLSConfig = serverTLS
	case smtpImplicitTLS:
		srv.TLSConfig = serverTLS
		l = tls.NewListener(l, serverTLS)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String(), clientTLS
}

// newTestSMTPSender is NewSMTPSender for rawURL, trusting the test server's
// certificate when clientTLS is not nil.
func newTestSMTPSender(t *testing.T, rawURL string, clientTLS *tls.Config) *SMTPSender {
	t.Helper()
	s, err := NewSMTPSender(rawURL, "GOV.UK emails <noreply@localhost>", "email.example")
	if err != nil {
		t.Fatalf("NewSMTPSender(%q): %v", rawURL, err)
	}
	if clientTLS != nil {
		s.tlsConfig = clientTLS
	}
	return s
}

func TestSMTPSenderDelivers(t *testing.T) {
	const longLine = "This line is longer than seventy-six characters, so quoted-printable must fold it softly."
	tests := []struct {
		name     string
		scheme   string
		mode     smtpTLSMode
		user     string
		password string
		wantTLS  bool
	}{
		{name: "plain SMTP without auth", scheme: "smtp", mode: smtpNoTLS},
		{name: "plain SMTP to localhost with AUTH PLAIN", scheme: "smtp", mode: smtpNoTLS, user: "user@example", password: "p@ss:w/rd"},
		{name: "STARTTLS with AUTH PLAIN", scheme: "smtp", mode: smtpSTARTTLS, user: "user", password: "secret", wantTLS: true},
		{name: "implicit TLS with AUTH PLAIN", scheme: "smtps", mode: smtpImplicitTLS, user: "user", password: "secret", wantTLS: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &smtpBackend{User: tt.user, Password: tt.password}
			addr, clientTLS := startSMTPServer(t, be, tt.mode)
			rawURL := tt.scheme + "://" + addr
			if tt.user != "" {
				rawURL = tt.scheme + "://" + url.UserPassword(tt.user, tt.password).String() + "@" + addr
			}
			s := newTestSMTPSender(t, rawURL, clientTLS)

			m := Message{
				ID:      uuid.New(),
				To:      "someone@example.com",
				Subject: "Update to “Brexit” guidance – £10, and what it means for traders in Northern Ireland",
				Body:    "Hello,\n\nA page you follow changed: https://www.gov.uk/x?a=1&b=2\n" + longLine + "\nCosts £10.\n",
			}
			ref, err := s.Send(context.Background(), m)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			wantID := "<" + m.ID.String() + "@email.example>"
			if ref != wantID {
				t.Errorf("reference = %q, want %q", ref, wantID)
			}

			got := be.messages()
			if len(got) != 1 {
				t.Fatalf("server received %d messages, want 1", len(got))
			}
			rcv := got[0]
			if rcv.From != "noreply@localhost" {
				t.Errorf("MAIL FROM = %q, want noreply@localhost", rcv.From)
			}
			if len(rcv.To) != 1 || rcv.To[0] != m.To {
				t.Errorf("RCPT TO = %q, want [%q]", rcv.To, m.To)
			}
			if rcv.TLS != tt.wantTLS {
				t.Errorf("session TLS = %v, want %v", rcv.TLS, tt.wantTLS)
			}
			if rcv.User != tt.user {
				t.Errorf("authenticated user = %q, want %q", rcv.User, tt.user)
			}

			msg, err := netmail.ReadMessage(strings.NewReader(string(rcv.Data)))
			if err != nil {
				t.Fatalf("parse received message: %v\n%s", err, rcv.Data)
			}
			from, err := msg.Header.AddressList("From")
			if err != nil || len(from) != 1 || from[0].Name != "GOV.UK emails" || from[0].Address != "noreply@localhost" {
				t.Errorf("From = %v (%v), want GOV.UK emails <noreply@localhost>", from, err)
			}
			to, err := msg.Header.AddressList("To")
			if err != nil || len(to) != 1 || to[0].Address != m.To {
				t.Errorf("To = %v (%v), want %s", to, err, m.To)
			}
			subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
			if err != nil || subject != m.Subject {
				t.Errorf("Subject = %q (%v), want %q", subject, err, m.Subject)
			}
			// The first encoded word follows "Subject: " on its line: a
			// break right after the colon reads as a leading space.
			raw := string(rcv.Data)
			if !strings.Contains(raw, "\r\nSubject: =?UTF-8?") {
				t.Errorf("Subject header does not start on its own line:\n%s", raw[:min(len(raw), 400)])
			}
			for _, line := range strings.Split(raw[:strings.Index(raw, "\r\n\r\n")], "\r\n") {
				if len(line) > 998 { // RFC 5322's limit; encoded words keep them near 78

					t.Errorf("header line of %d characters: %q", len(line), line)
				}
			}
			if got := msg.Header.Get("Auto-Submitted"); got != "auto-generated" {
				t.Errorf("Auto-Submitted = %q, want auto-generated", got)
			}
			if got := msg.Header.Get("Message-ID"); got != wantID {
				t.Errorf("Message-ID = %q, want %q", got, wantID)
			}
			if _, err := msg.Header.Date(); err != nil {
				t.Errorf("Date: %v", err)
			}
			mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
			if err != nil || mediaType != "text/plain" || !strings.EqualFold(params["charset"], "utf-8") {
				t.Errorf("Content-Type = %q, want text/plain; charset=UTF-8", msg.Header.Get("Content-Type"))
			}
			body := msg.Body
			switch cte := strings.ToLower(msg.Header.Get("Content-Transfer-Encoding")); cte {
			case "quoted-printable":
				body = quotedprintable.NewReader(msg.Body)
			case "", "7bit", "8bit":
			default:
				t.Fatalf("unexpected Content-Transfer-Encoding %q", cte)
			}
			b, err := io.ReadAll(body)
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			if got := strings.ReplaceAll(string(b), "\r\n", "\n"); got != m.Body {
				t.Errorf("body = %q, want %q", got, m.Body)
			}
		})
	}
}

func TestSMTPSenderErrors(t *testing.T) {
	// A port nothing listens on: listen, note the port, stop listening.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downAddr := l.Addr().String()
	_ = l.Close()

	tests := []struct {
		name          string
		to            string
		rejection     *smtp.SMTPError
		serverDown    bool
		badPassword   bool
		wantPermanent bool
	}{
		{
			name:          "550 on RCPT is permanent",
			to:            "nobody@example.com",
			rejection:     &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"},
			wantPermanent: true,
		},
		{
			name:          "553 on RCPT is permanent",
			to:            "bad@example.com",
			rejection:     &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax"},
			wantPermanent: true,
		},
		{
			name:      "451 on RCPT is retried",
			to:        "greylisted@example.com",
			rejection: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Greylisted, try again later"},
		},
		{name: "server down is retried", to: "someone@example.com", serverDown: true},
		{name: "wrong password is retried", to: "someone@example.com", badPassword: true},
		{name: "unparseable address is permanent", to: "not an address", wantPermanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &smtpBackend{User: "user", Password: "right-password", Rejections: map[string]*smtp.SMTPError{}}
			if tt.rejection != nil {
				be.Rejections[tt.to] = tt.rejection
			}
			addr, clientTLS := startSMTPServer(t, be, smtpNoTLS)
			password := "right-password"
			if tt.badPassword {
				password = "wrong-password"
			}
			if tt.serverDown {
				addr = downAddr
			}
			s := newTestSMTPSender(t, "smtp://user:"+password+"@"+addr, clientTLS)

			_, err := s.Send(context.Background(), Message{ID: uuid.New(), To: tt.to, Subject: "s", Body: "b"})
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			t.Logf("error: %v", err)
			var perm *PermanentError
			if got := errors.As(err, &perm); got != tt.wantPermanent {
				t.Errorf("errors.As(err, *PermanentError) = %v, want %v; err: %v", got, tt.wantPermanent, err)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error contains the password: %v", err)
			}
			if n := len(be.messages()); n != 0 {
				t.Errorf("server accepted %d messages, want 0", n)
			}
		})
	}
}

func TestSMTPSenderHonorsContext(t *testing.T) {
	// A server that accepts connections and never says hello.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	s := newTestSMTPSender(t, "smtp://"+l.Addr().String(), nil)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.Send(ctx, Message{ID: uuid.New(), To: "someone@example.com", Subject: "s", Body: "b"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	var perm *PermanentError
	if errors.As(err, &perm) {
		t.Errorf("err is permanent: %v", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Send took %v after the context ended", elapsed)
	}
}

func TestNewSMTPSender(t *testing.T) {
	const from = "GOV.UK emails <noreply@notifications.example>"
	t.Run("valid", func(t *testing.T) {
		tests := []struct {
			rawURL string
			want   SMTPSender
		}{
			{"smtp://localhost", SMTPSender{host: "localhost", port: 25}},
			{"smtp://127.0.0.1:1025", SMTPSender{host: "127.0.0.1", port: 1025}},
			{"smtps://mail.example.com", SMTPSender{host: "mail.example.com", port: 465, implicitTLS: true}},
			{"smtp://apikey:s3cret@smtp.example.com:587", SMTPSender{host: "smtp.example.com", port: 587, username: "apikey", password: "s3cret"}},
			{"smtps://user%40example.com:p%40ss%2Fw%3Ard@[::1]:2465/", SMTPSender{host: "::1", port: 2465, implicitTLS: true, username: "user@example.com", password: "p@ss/w:rd"}},
		}
		for _, tt := range tests {
			s, err := NewSMTPSender(tt.rawURL, from, "")
			if err != nil {
				t.Errorf("NewSMTPSender(%q): %v", tt.rawURL, err)
				continue
			}
			if s.host != tt.want.host || s.port != tt.want.port || s.implicitTLS != tt.want.implicitTLS ||
				s.username != tt.want.username || s.password != tt.want.password {
				t.Errorf("NewSMTPSender(%q) = host %q port %d TLS %v user %q password %q, want host %q port %d TLS %v user %q password %q",
					tt.rawURL, s.host, s.port, s.implicitTLS, s.username, s.password,
					tt.want.host, tt.want.port, tt.want.implicitTLS, tt.want.username, tt.want.password)
			}
			if s.idDomain != "notifications.example" {
				t.Errorf("NewSMTPSender(%q): Message-ID domain %q, want notifications.example", tt.rawURL, s.idDomain)
			}
			if s.timeout != 10*time.Second {
				t.Errorf("NewSMTPSender(%q): timeout %v, want 10s", tt.rawURL, s.timeout)
			}
		}
	})

	t.Run("invalid", func(t *testing.T) {
		tests := []struct {
			name, rawURL, from string
		}{
			{"http scheme", "http://x", from},
			{"no scheme", "localhost:25", from},
			{"missing host", "smtp://", from},
			{"missing host with port", "smtp://:25", from},
			{"missing host with credentials", "smtp://user:s3cret@", from},
			{"invalid port", "smtp://user:s3cret@host:port", from},
			{"port out of range", "smtp://user:s3cret@host:99999", from},
			{"path", "smtp://host/inbox", from},
			{"unparseable", "smtp://user:s3cret@ho st\x7f", from},
			{"password without user", "smtp://:s3cret@host", from},
			{"bad from", "smtp://localhost", "not an address"},
			{"from without domain", "smtp://localhost", "GOV.UK <noreply>"},
		}
		for _, tt := range tests {
			s, err := NewSMTPSender(tt.rawURL, tt.from, "email.example")
			if err == nil {
				t.Errorf("%s: NewSMTPSender(%q, %q) = %+v, want an error", tt.name, tt.rawURL, tt.from, s)
				continue
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("%s: error contains the password: %v", tt.name, err)
			}
		}
	})
}

// An email about a list carries List-Unsubscribe and List-Unsubscribe-Post
// (RFC 8058) as the server receives them, the URL whole on one line; any
// other email carries neither.
func TestSMTPSenderListUnsubscribe(t *testing.T) {
	const oneClick = "https://www.gov.example/email/unsubscribe/one-click/3f1c8b2e-4b0a-4e53-9a43-6f1f0c2d7a10?token=" +
		"AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdEf"
	tests := []struct {
		name     string
		url      string
		wantList string
		wantPost string
	}{
		{name: "email about a list", url: oneClick, wantList: "<" + oneClick + ">", wantPost: "List-Unsubscribe=One-Click"},
		{name: "transactional email", url: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &smtpBackend{}
			addr, _ := startSMTPServer(t, be, smtpNoTLS)
			s := newTestSMTPSender(t, "smtp://"+addr, nil)
			m := Message{ID: uuid.New(), To: "someone@example.com", Subject: "s", Body: "b\n", ListUnsubscribeURL: tt.url}
			if _, err := s.Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			got := be.messages()
			if len(got) != 1 {
				t.Fatalf("server received %d messages, want 1", len(got))
			}
			raw := string(got[0].Data)
			msg, err := netmail.ReadMessage(strings.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if v, ok := msg.Header["List-Unsubscribe"]; tt.wantList == "" && ok {
				t.Errorf("List-Unsubscribe = %q, want none", v)
			}
			if v, ok := msg.Header["List-Unsubscribe-Post"]; tt.wantPost == "" && ok {
				t.Errorf("List-Unsubscribe-Post = %q, want none", v)
			}
			if tt.wantList == "" {
				return
			}
			if got := msg.Header.Get("List-Unsubscribe"); got != tt.wantList {
				t.Errorf("List-Unsubscribe = %q, want %q", got, tt.wantList)
			}
			if got := msg.Header.Get("List-Unsubscribe-Post"); got != tt.wantPost {
				t.Errorf("List-Unsubscribe-Post = %q, want %q", got, tt.wantPost)
			}
			// Unfolded: the header is one line, so no client has to glue
			// the URL back together.
			if !strings.Contains(raw, "\r\nList-Unsubscribe: "+tt.wantList+"\r\n") {
				t.Errorf("List-Unsubscribe is not one line:\n%s", raw[:strings.Index(raw, "\r\n\r\n")])
			}
		})
	}
}

// A URL that would end the header, or the URL, early is refused, and
// nothing is sent.
func TestSMTPSenderRefusesABadListUnsubscribeURL(t *testing.T) {
	for _, bad := range []string{
		"https://x.example/a\r\nBcc: eve@example.com",
		"https://x.example/a> <mailto:eve@example.com",
		"https://x.example/a b",
	} {
		be := &smtpBackend{}
		addr, _ := startSMTPServer(t, be, smtpNoTLS)
		s := newTestSMTPSender(t, "smtp://"+addr, nil)
		_, err := s.Send(context.Background(), Message{ID: uuid.New(), To: "someone@example.com", Subject: "s", Body: "b", ListUnsubscribeURL: bad})
		if err == nil {
			t.Errorf("Send with List-Unsubscribe %q succeeded, want an error", bad)
		}
		if n := len(be.messages()); n != 0 {
			t.Errorf("%q: server accepted %d messages, want 0", bad, n)
		}
	}
}
