-- GOV.UK One Login: account sessions, sign-in requests in flight, and the
-- back-channel logout tokens already used.

-- +goose Up
-- An account session belongs to a One Login subject (sub), whether or not
-- a subscriber is linked to it yet; a magic-link session to a subscriber.
ALTER TABLE sessions ALTER COLUMN subscriber_id DROP NOT NULL;
ALTER TABLE sessions
    ADD COLUMN govuk_account_id text,
    ADD COLUMN email            text,
    ADD COLUMN email_verified   boolean,
    -- The ID token, kept only for the id_token_hint of sign-out.
    ADD COLUMN id_token         text,
    ADD CONSTRAINT sessions_owner_check CHECK (
        (method = 'magic_link' AND subscriber_id IS NOT NULL AND govuk_account_id IS NULL) OR
        (method = 'account' AND govuk_account_id IS NOT NULL));
CREATE INDEX sessions_govuk_account_id_idx ON sessions (govuk_account_id) WHERE govuk_account_id IS NOT NULL;

-- A sign-in started at One Login and not yet come back. state is stored
-- hashed and bound to the browser that started it by a cookie.
CREATE TABLE oidc_sign_ins (
    state_hash    bytea PRIMARY KEY,
    browser_hash  bytea NOT NULL,
    nonce         text NOT NULL,
    code_verifier text NOT NULL,
    vtr           text,
    redirect_path text NOT NULL,
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oidc_sign_ins_expires_idx ON oidc_sign_ins (expires_at);

-- jti of every back-channel logout token accepted, until it expires.
CREATE TABLE oidc_logout_jtis (
    jti        text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE oidc_logout_jtis;
DROP TABLE oidc_sign_ins;
DROP INDEX sessions_govuk_account_id_idx;
ALTER TABLE sessions DROP CONSTRAINT sessions_owner_check,
    DROP COLUMN id_token, DROP COLUMN email_verified, DROP COLUMN email, DROP COLUMN govuk_account_id;
DELETE FROM sessions WHERE subscriber_id IS NULL;
ALTER TABLE sessions ALTER COLUMN subscriber_id SET NOT NULL;
