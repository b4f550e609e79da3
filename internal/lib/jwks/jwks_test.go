package jwks

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// issuer publishes a key set that a test can change, and counts fetches.
type issuer struct {
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetches atomic.Int64
	srv     *httptest.Server
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	is := &issuer{}
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		is.fetches.Add(1)
		is.mu.Lock()
		defer is.mu.Unlock()
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: is.keys})
	}))
	t.Cleanup(is.srv.Close)
	return is
}

// newKey publishes a new key under kid and returns a signer for it.
func (is *issuer) newKey(t *testing.T, kid string) jose.Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	is.mu.Lock()
	is.keys = append(is.keys, jose.JSONWebKey{Key: key.Public(), KeyID: kid, Algorithm: "ES256", Use: "sig"})
	is.mu.Unlock()
	return signer(t, key, kid)
}

func signer(t *testing.T, key *ecdsa.PrivateKey, kid string) jose.Signer {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), kid))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sign(t *testing.T, s jose.Signer, payload string) string {
	t.Helper()
	jws, err := s.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// clock is a settable time for the key set.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newKeySet(is *issuer) (*KeySet, *clock) {
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	ks := New(is.srv.URL, is.srv.Client())
	ks.now = c.Now
	return ks, c
}

func TestVerifiesWithTheKeySetAndFetchesItOnce(t *testing.T) {
	is := newIssuer(t)
	good := is.newKey(t, "k1")
	ks, _ := newKeySet(is)
	for range 20 {
		payload, err := ks.VerifySignature(context.Background(), sign(t, good, `{"a":1}`))
		if err != nil {
			t.Fatal(err)
		}
		if string(payload) != `{"a":1}` {
			t.Fatalf("payload %q", payload)
		}
	}
	if n := is.fetches.Load(); n != 1 {
		t.Errorf("%d fetches for 20 tokens signed by a known key, want 1", n)
	}
}

func TestForgedTokensDoNotMakeItFetchAgainAndAgain(t *testing.T) {
	is := newIssuer(t)
	good := is.newKey(t, "k1")
	ks, clk := newKeySet(is)
	if _, err := ks.VerifySignature(context.Background(), sign(t, good, `{}`)); err != nil {
		t.Fatal(err)
	}
	forgedKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, kid := range []string{"k1", "made-up", ""} {
		forger := signer(t, forgedKey, kid)
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := ks.VerifySignature(context.Background(), sign(t, forger, `{}`)); !errors.Is(err, ErrUnverified) {
					t.Errorf("forged token with kid %q: err %v, want ErrUnverified", kid, err)
				}
			}()
		}
		wg.Wait()
	}
	// The first forged token was within MinRefresh of the first fetch.
	if n := is.fetches.Load(); n != 1 {
		t.Errorf("%d fetches after 150 forged tokens, want 1", n)
	}
	clk.Add(MinRefresh)
	for range 50 {
		_, _ = ks.VerifySignature(context.Background(), sign(t, signer(t, forgedKey, "made-up"), `{}`))
	}
	if n := is.fetches.Load(); n != 2 {
		t.Errorf("%d fetches after MinRefresh and 50 more forged tokens, want 2", n)
	}
}

func TestPicksUpARotatedKey(t *testing.T) {
	is := newIssuer(t)
	old := is.newKey(t, "k1")
	ks, clk := newKeySet(is)
	if _, err := ks.VerifySignature(context.Background(), sign(t, old, `{}`)); err != nil {
		t.Fatal(err)
	}
	rotated := is.newKey(t, "k2")
	clk.Add(MinRefresh)
	if _, err := ks.VerifySignature(context.Background(), sign(t, rotated, `{"new":true}`)); err != nil {
		t.Fatalf("token signed by the rotated key: %v", err)
	}
	if _, err := ks.VerifySignature(context.Background(), sign(t, old, `{}`)); err != nil {
		t.Fatalf("the old key is still published: %v", err)
	}
}

func TestRefusesWhatIsNotAnAsymmetricSignature(t *testing.T) {
	is := newIssuer(t)
	is.newKey(t, "k1")
	ks, _ := newKeySet(is)
	hmac, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, token := range map[string]string{
		"HS256":   sign(t, hmac, `{}`),
		"none":    "eyJhbGciOiJub25lIn0.e30.",
		"garbage": "not a token",
	} {
		if _, err := ks.VerifySignature(context.Background(), token); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestAFailedFetchIsNotRetriedAtOnce(t *testing.T) {
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ks := New(srv.URL, srv.Client())
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	token := sign(t, signer(t, key, "k1"), `{}`)
	for range 10 {
		if _, err := ks.VerifySignature(context.Background(), token); err == nil {
			t.Fatal("verified with no key set")
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches of a failing key set, want 1", n)
	}
}
