package linking_test

import (
	"context"
	"testing"

	"email-alert/linking"
)

// TestSecurityPurgeForgetsOnlyExpiredSignInsAndLogoutJTIs: One Login
// sign-ins that never came back (anyone can start one) and the jtis of
// accepted logout tokens are purged a day after they expire, so neither
// table grows for ever; a live jti is kept, so its token stays refused as
// a replay.
func TestSecurityPurgeForgetsOnlyExpiredSignInsAndLogoutJTIs(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO oidc_sign_ins (state_hash, browser_hash, nonce, code_verifier, redirect_path, expires_at)
		 VALUES ('\x01', '\x01', 'n', 'v', '/', now() - interval '2 days'), ('\x02', '\x02', 'n', 'v', '/', now() + interval '10 minutes')`,
		`INSERT INTO oidc_logout_jtis (jti, expires_at) VALUES ('old', now() - interval '2 days'), ('live', now() + interval '2 minutes')`,
	} {
		if _, err := f.db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	n, err := linking.Purge(ctx, f.db)
	if err != nil || n != 2 {
		t.Errorf("Purge = %d, %v; want 2 rows", n, err)
	}
	var left []string
	if err := f.db.Select(&left, `SELECT encode(state_hash, 'hex') FROM oidc_sign_ins UNION ALL SELECT jti FROM oidc_logout_jtis ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || left[0] != "02" || left[1] != "live" {
		t.Errorf("left after Purge: %v, want the live sign-in (02) and jti", left)
	}
}
