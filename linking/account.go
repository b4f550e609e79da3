package linking

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"golang.org/x/oauth2"

	"email-alert/internal/lib/pgdb"
	"email-alert/linking/magiclink"
	"email-alert/linking/onelogin"
	"email-alert/linking/secret"
	"email-alert/linking/session"
	"email-alert/subscribers"
)

// signInTTL is how long a sign-in may stay at the provider.
const signInTTL = 15 * time.Minute

// StartSignIn records a sign-in at One Login and returns the provider URL
// to send the browser to, and the browser token to set in a cookie: the
// callback is accepted only from the browser holding it. redirectPath must
// be a local path (magiclink.CheckDestination); mfa false asks for the "Cl" level.
// One Login shows its pages in lang (en or cy, as ui_locales).
func (s *Service) StartSignIn(ctx context.Context, redirectPath string, mfa bool, lang string) (authURL, browser string, err error) {
	if s.rp == nil {
		return "", "", fmt.Errorf("%w: One Login is not configured", onelogin.ErrSignIn)
	}
	if magiclink.CheckDestination(redirectPath) != nil {
		redirectPath = "/email/manage"
	}
	state, stateHash := secret.New()
	browser, browserHash := secret.New()
	nonce, _ := secret.New()
	verifier := oauth2.GenerateVerifier()
	vtr := s.rp.LevelFor(mfa)
	var vtrText *string
	if vtr != nil {
		joined := strings.Join(vtr, " ")
		vtrText = &joined
	}
	authURL, err = s.rp.AuthCodeURL(ctx, state, nonce, verifier, vtr, lang)
	if err != nil {
		return "", "", err
	}
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO oidc_sign_ins (state_hash, browser_hash, nonce, code_verifier, vtr, redirect_path, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, now() + $7::interval)`,
		stateHash, browserHash, nonce, verifier, vtrText, redirectPath, fmt.Sprintf("%d seconds", int64(signInTTL.Seconds())))
	if err != nil {
		return "", "", fmt.Errorf("record sign-in: %w", err)
	}
	return authURL, browser, nil
}

// SignedIn is the outcome of a One Login sign-in.
type SignedIn struct {
	Session      string // the new session token
	RedirectPath string // where the person asked to land
	Account      onelogin.Account
	// Linked is false when the account's email is not verified: the person
	// is signed in, but no subscriber is linked.
	Linked bool
}

// FinishSignIn completes a sign-in at the callback: the state must be one
// this browser started (once), the code is exchanged and the tokens
// checked, the account linked (when its email is verified) and a session
// opened. Every failure wraps onelogin.ErrSignIn; nothing is left half made.
//
// lang, the language of the page the person signed in on, becomes the
// linked subscriber's locale.
func (s *Service) FinishSignIn(ctx context.Context, state, code, browser, lang string) (SignedIn, error) {
	if s.rp == nil || !secret.WellFormed(state) || !secret.WellFormed(browser) || code == "" {
		return SignedIn{}, fmt.Errorf("%w: missing or malformed state, code or browser cookie", onelogin.ErrSignIn)
	}
	var req struct {
		BrowserHash  []byte  `db:"browser_hash"`
		Nonce        string  `db:"nonce"`
		CodeVerifier string  `db:"code_verifier"`
		VTR          *string `db:"vtr"`
		RedirectPath string  `db:"redirect_path"`
	}
	// Deleting it makes the state single use, whatever happens next.
	err := s.db.GetContext(ctx, &req, `
		DELETE FROM oidc_sign_ins WHERE state_hash = $1 AND expires_at > now()
		RETURNING browser_hash, nonce, code_verifier, vtr, redirect_path`, secret.Hash(state))
	if errors.Is(err, sql.ErrNoRows) {
		return SignedIn{}, fmt.Errorf("%w: unknown, used or expired state", onelogin.ErrSignIn)
	}
	if err != nil {
		return SignedIn{}, fmt.Errorf("%w: %w", onelogin.ErrSignIn, err)
	}
	if subtle.ConstantTimeCompare(req.BrowserHash, secret.Hash(browser)) != 1 {
		return SignedIn{}, fmt.Errorf("%w: state was started by another browser", onelogin.ErrSignIn)
	}
	var vtr []string
	if req.VTR != nil {
		vtr = strings.Fields(*req.VTR)
	}
	account, idToken, err := s.rp.Exchange(ctx, code, req.CodeVerifier, req.Nonce, vtr)
	if err != nil {
		return SignedIn{}, err
	}
	deleted, err := session.AccountDeleted(ctx, s.db, account.Sub)
	if err != nil {
		return SignedIn{}, fmt.Errorf("%w: %w", onelogin.ErrSignIn, err)
	}
	if deleted {
		return SignedIn{}, fmt.Errorf("%w: account %s was deleted", onelogin.ErrSignIn, account.Sub)
	}
	result := SignedIn{RedirectPath: req.RedirectPath, Account: account}
	// The session and the link are made together, so the link is recorded
	// as caused by the session it opens.
	err = s.subs.InTx(ctx, func(tx *sqlx.Tx) (err error) {
		var sessionID int64
		result.Session, sessionID, err = session.CreateAccount(ctx, tx, account, idToken)
		if err != nil {
			return err
		}
		_, err = s.linkIn(ctx, tx, account, subscribers.SessionCause(sessionID), lang)
		result.Linked = err == nil
		if errors.Is(err, ErrEmailUnverified) {
			return nil // signed in, but not linked
		}
		return err
	})
	if err != nil {
		return SignedIn{}, fmt.Errorf("%w: %w", onelogin.ErrSignIn, err)
	}
	return result, nil
}

// SignOut ends the session of token and returns where to send the browser:
// the provider's end-session endpoint for an account session (with the ID
// token as hint), else /signed-out.
func (s *Service) SignOut(ctx context.Context, token string) (string, error) {
	const signedOut = "/signed-out"
	account, hint, err := s.Sessions.EndForSignOut(ctx, token)
	if errors.Is(err, session.ErrNoSession) || (err == nil && !account) {
		return signedOut, nil
	}
	if err != nil {
		return "", err
	}
	state, _ := secret.New()
	u, err := s.rp.EndSessionURL(ctx, hint, state)
	if err != nil || u == "" {
		return signedOut, err
	}
	return u, nil
}

// BackchannelLogout ends every session of the account named by a verified
// back-channel logout token. A token whose jti was seen before is refused.
func (s *Service) BackchannelLogout(ctx context.Context, raw string) error {
	if s.rp == nil {
		return fmt.Errorf("%w: One Login is not configured", onelogin.ErrSignIn)
	}
	token, err := s.rp.VerifyLogoutToken(ctx, raw)
	if err != nil {
		return err
	}
	return pgdb.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `
			INSERT INTO oidc_logout_jtis (jti, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
			token.TokenID, token.Expiry)
		if err != nil {
			return fmt.Errorf("record logout jti: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("logout token %s replayed", token.TokenID)
		}
		return session.EndAllOfAccount(ctx, tx, token.Subject)
	})
}
