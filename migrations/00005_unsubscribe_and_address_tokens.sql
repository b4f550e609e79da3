-- Tokens for the unsubscribe link in emails and for confirming a new
-- address before it takes effect.

-- +goose Up
ALTER TABLE auth_tokens DROP CONSTRAINT auth_tokens_purpose_check;
ALTER TABLE auth_tokens ADD CONSTRAINT auth_tokens_purpose_check
    CHECK (purpose IN ('sign_in', 'confirm_subscription', 'unsubscribe', 'change_address'));
ALTER TABLE auth_tokens ADD COLUMN subscription_id uuid REFERENCES subscriptions (id);
ALTER TABLE auth_tokens ADD CONSTRAINT auth_tokens_unsubscribe_check
    CHECK (purpose <> 'unsubscribe' OR subscription_id IS NOT NULL);
ALTER TABLE auth_tokens ADD CONSTRAINT auth_tokens_change_address_check
    CHECK (purpose <> 'change_address' OR subscriber_id IS NOT NULL);
CREATE INDEX auth_tokens_subscription_idx ON auth_tokens (subscription_id) WHERE subscription_id IS NOT NULL;

-- +goose Down
DROP INDEX auth_tokens_subscription_idx;
ALTER TABLE auth_tokens DROP CONSTRAINT auth_tokens_change_address_check;
ALTER TABLE auth_tokens DROP CONSTRAINT auth_tokens_unsubscribe_check;
DELETE FROM auth_tokens WHERE purpose IN ('unsubscribe', 'change_address');
ALTER TABLE auth_tokens DROP COLUMN subscription_id;
ALTER TABLE auth_tokens DROP CONSTRAINT auth_tokens_purpose_check;
ALTER TABLE auth_tokens ADD CONSTRAINT auth_tokens_purpose_check
    CHECK (purpose IN ('sign_in', 'confirm_subscription'));
