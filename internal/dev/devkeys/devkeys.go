// Package devkeys holds the development OIDC client's private key, shared
// by the service's local defaults and cmd/dev-oidc so that private_key_jwt
// works on one machine with no setup. The key is published in this
// repository: the service uses it only while PUBLIC_URL is on this machine.
package devkeys

import (
	"crypto/rsa"
	"crypto/x509"
	_ "embed"
	"encoding/pem"
	"errors"
	"fmt"
)

// ClientKeyPEM is the development client's RSA private key (PKCS #8 PEM).
//
//go:embed oidc-client.pem
var ClientKeyPEM []byte

// ClientKey parses ClientKeyPEM.
func ClientKey() (*rsa.PrivateKey, error) {
	return ParseRSAPrivateKey(ClientKeyPEM)
}

// ParseRSAPrivateKey reads an RSA private key from PEM, PKCS #8 or PKCS #1.
func ParseRSAPrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if key, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return key, nil
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA private key")
	}
	return key, nil
}
