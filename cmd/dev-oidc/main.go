// Command dev-oidc runs a development identity provider that speaks GOV.UK
// One Login's OIDC contract (see internal/dev/devoidc), configured for the
// service's local defaults, so the sign-in journey runs on one machine.
// It is a development tool: anyone can sign in as anyone.
package main

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"email-alert/internal/dev/devkeys"
	"email-alert/internal/dev/devoidc"
)

// devAccountEventsToken is the service's published development
// ACCOUNT_EVENTS_TOKEN, which it accepts only on a local setup.
const devAccountEventsToken = "dev-account-events-token"

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	slog.SetDefault(logger)
	if err := run(); err != nil {
		logger.Error("dev-oidc stopped", "error", err)
		os.Exit(1)
	}
}

func run() error {
	addr := env("DEV_OIDC_ADDR", "127.0.0.1:3099")
	if err := checkLoopback(addr, os.Getenv("DEV_OIDC_ALLOW_NON_LOOPBACK") == "1"); err != nil {
		return err
	}
	publicURL := strings.TrimSuffix(env("PUBLIC_URL", "http://localhost:3000"), "/")
	clientKey, err := clientPublicKey(os.Getenv("OIDC_PRIVATE_KEY_FILE"))
	if err != nil {
		return err
	}
	cfg := devoidc.Config{
		Issuer:                 "http://" + addr + "/",
		ClientID:               env("OIDC_CLIENT_ID", "email-alert-dev"),
		ClientKey:              clientKey,
		ClientSecret:           env("DEV_OIDC_CLIENT_SECRET", "dev-client-secret"),
		RedirectURIs:           []string{env("OIDC_REDIRECT_URL", publicURL+"/sign-in/callback")},
		PostLogoutRedirectURIs: []string{env("OIDC_POST_LOGOUT_REDIRECT_URL", publicURL+"/signed-out")},
		BackchannelLogoutURI:   publicURL + "/sign-in/backchannel-logout",
		EventsURL:              env("DEV_OIDC_EVENTS_URL", "http://"+dialAddr(env("API_ADDR", "127.0.0.1:3088"))+"/account-events"),
		EventsToken:            env("ACCOUNT_EVENTS_TOKEN", devAccountEventsToken),
		EventsAudience:         env("ACCOUNT_EVENTS_AUDIENCE", publicURL),
	}
	provider, err := devoidc.New(cfg)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("DEV_OIDC_ADDR %q: %w", addr, err)
	}
	srv := &http.Server{Handler: provider, ReadHeaderTimeout: 10 * time.Second}
	slog.Info("dev-oidc is a development tool: anyone can sign in as any email address; never use it outside local development")
	slog.Info("dev-oidc listening", "issuer", cfg.Issuer, "client_id", cfg.ClientID,
		"redirect_uri", cfg.RedirectURIs[0], "post_logout_redirect_uri", cfg.PostLogoutRedirectURIs[0],
		"backchannel_logout_uri", cfg.BackchannelLogoutURI,
		"events_url", cfg.EventsURL, "events_audience", cfg.EventsAudience)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	slog.Info("dev-oidc shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// env returns the variable's value, or def when it is unset or empty.
func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// dialAddr turns a listen address into one to connect to: a listener on
// every interface (":3088", "0.0.0.0:3088", "[::]:3088") is reached on
// 127.0.0.1. Anything else is returned as it is.
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// checkLoopback refuses addresses other machines could reach: dev-oidc
// lets anyone sign in as anyone.
func checkLoopback(addr string, allowed bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("DEV_OIDC_ADDR %q is not host:port: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	if allowed {
		slog.Warn("dev-oidc listening on a non-loopback address: other machines can sign in as anyone", "addr", addr)
		return nil
	}
	return fmt.Errorf("DEV_OIDC_ADDR %q is not a loopback address; dev-oidc lets anyone sign in as anyone, "+
		"so it listens only on localhost, 127.0.0.1 or ::1 (set DEV_OIDC_ALLOW_NON_LOOPBACK=1 to override)", addr)
}

// clientPublicKey is the public half of the client's private_key_jwt key:
// OIDC_PRIVATE_KEY_FILE when set (the same file the service signs with),
// else the published development key.
func clientPublicKey(file string) (*rsa.PublicKey, error) {
	if file == "" {
		key, err := devkeys.ClientKey()
		if err != nil {
			return nil, fmt.Errorf("development client key: %w", err)
		}
		return &key.PublicKey, nil
	}
	pemBytes, err := os.ReadFile(file) //nolint:gosec // the operator names the key file

	if err != nil {
		return nil, fmt.Errorf("OIDC_PRIVATE_KEY_FILE: %w", err)
	}
	key, err := devkeys.ParseRSAPrivateKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("OIDC_PRIVATE_KEY_FILE %s: %w", file, err)
	}
	return &key.PublicKey, nil
}
