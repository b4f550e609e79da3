// Package jwks verifies JWT signatures against a JSON Web Key Set fetched
// from a URL and kept in memory. It implements go-oidc's KeySet, for the
// One Login verifier and the account events verifier.
//
// go-oidc's own RemoteKeySet fetches the set again after every signature it
// cannot verify. Anyone can post a logout token to the back-channel logout
// endpoint, so a stream of forged tokens with made-up key ids would make
// the service fetch One Login's key set once per request. Here a signature
// that the cached keys cannot verify fetches the set again only when the
// last fetch is at least MinRefresh old; a rotated key is still picked up
// within MinRefresh.
package jwks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// MinRefresh is the least time between two fetches of a key set.
const MinRefresh = 10 * time.Second

// maxBytes bounds the key set document.
const maxBytes = 1 << 20

// ErrUnverified is returned for a signature no key of the set verifies.
var ErrUnverified = errors.New("jwks: signature not verified by any key of the set")

// algorithms are the asymmetric signature algorithms a token may use; an
// HMAC (which would take a public key as a shared secret) or "none" never
// parses.
var algorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// KeySet is the key set at a URL. It is safe for concurrent use.
type KeySet struct {
	url    string
	client *http.Client
	now    func() time.Time

	fetching sync.Mutex // held while fetching, so that one request fetches for all
	mu       sync.Mutex // guards keys and fetched
	keys     []jose.JSONWebKey
	fetched  time.Time // of the last attempt, successful or not
}

// New returns the key set at url, fetched with client on first use.
func New(url string, client *http.Client) *KeySet {
	return &KeySet{url: url, client: client, now: time.Now}
}

// VerifySignature returns the payload of the compact JWS token if a key of
// the set verifies its signature.
func (ks *KeySet) VerifySignature(ctx context.Context, token string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(token, algorithms)
	if err != nil {
		return nil, fmt.Errorf("jwks: malformed token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("jwks: token must have exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	keys, fetched := ks.cached()
	if payload, ok := verify(jws, kid, keys); ok {
		return payload, nil
	}
	keys, err = ks.refresh(ctx, fetched)
	if err != nil {
		return nil, err
	}
	if payload, ok := verify(jws, kid, keys); ok {
		return payload, nil
	}
	return nil, ErrUnverified
}

func (ks *KeySet) cached() ([]jose.JSONWebKey, time.Time) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.keys, ks.fetched
}

// refresh fetches the set again unless another request did after seen (the
// fetch time the caller's keys came from) or the last fetch is younger than
// MinRefresh, and returns the keys.
// Requests verifying with the cached keys meanwhile are not held up.
func (ks *KeySet) refresh(ctx context.Context, seen time.Time) ([]jose.JSONWebKey, error) {
	ks.fetching.Lock()
	defer ks.fetching.Unlock()
	keys, fetched := ks.cached()
	if fetched.After(seen) || (!fetched.IsZero() && ks.now().Sub(fetched) < MinRefresh) {
		return keys, nil
	}
	started := ks.now()
	fresh, err := ks.fetch(ctx)
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.fetched = started
	if err != nil {
		return ks.keys, err
	}
	ks.keys = fresh
	return fresh, nil
}

func (ks *KeySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	resp, err := ks.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks: fetch %s: %w", ks.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks: fetch %s: %s", ks.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes))
	if err != nil {
		return nil, fmt.Errorf("jwks: fetch %s: %w", ks.url, err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("jwks: %s: %w", ks.url, err)
	}
	return set.Keys, nil
}

// verify tries the keys with the token's key id (every key when it names
// none) and returns the payload the first one verifies.
func verify(jws *jose.JSONWebSignature, kid string, keys []jose.JSONWebKey) ([]byte, bool) {
	for _, key := range keys {
		if kid != "" && key.KeyID != kid {
			continue
		}
		if payload, err := jws.Verify(key); err == nil {
			return payload, true
		}
	}
	return nil, false
}
