// Package secret makes the bearer secrets of signing in: magic-link
// tokens, session cookies, One Login states and browser bindings. Each is
// 256 random bits, sent as 43 characters of unpadded base64url, and stored
// only as its SHA-256 hash, so what the database holds opens nothing.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// New returns a random secret and the hash that is stored for it.
func New() (string, []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	token := base64.RawURLEncoding.EncodeToString(b)
	return token, Hash(token)
}

// Hash is the SHA-256 of token: what is stored and looked up.
func Hash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// WellFormed rejects anything that cannot be one of our secrets before it
// reaches the database.
func WellFormed(token string) bool {
	if len(token) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil
}
