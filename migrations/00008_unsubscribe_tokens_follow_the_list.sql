-- Unsubscribe links follow the subscription: an unsubscribe token is bound
-- to the (subscriber, list), not to one subscription row, so the link in an
-- old email ends whatever is active for that list now, even after a
-- frequency change replaced the row it was written for. Tokens already in
-- emails keep working: each takes the subscriber and list of its row.

-- +goose Up
ALTER TABLE auth_tokens ADD COLUMN subscriber_list_id bigint REFERENCES subscriber_lists (id);
UPDATE auth_tokens t
SET subscriber_id = s.subscriber_id, subscriber_list_id = s.subscriber_list_id
FROM subscriptions s
WHERE t.purpose = 'unsubscribe' AND s.id = t.subscription_id;
ALTER TABLE auth_tokens DROP CONSTRAINT auth_tokens_unsubscribe_check;
ALTER TABLE auth_tokens ADD CONSTRAINT auth_tokens_unsubscribe_check
    CHECK (purpose <> 'unsubscribe' OR (subscriber_id IS NOT NULL AND subscriber_list_id IS NOT NULL));
DROP INDEX auth_tokens_subscription_idx;
ALTER TABLE auth_tokens DROP COLUMN subscription_id;

-- +goose Down
-- Each token goes back to the newest subscription of its (subscriber, list).
ALTER TABLE auth_tokens ADD COLUMN subscription_id uuid REFERENCES subscriptions (id);
UPDATE auth_tokens t
SET subscription_id = (
    SELECT s.id FROM subscriptions s
    WHERE s.subscriber_id = t.subscriber_id AND s.subscriber_list_id = t.subscriber_list_id
    ORDER BY s.created_at DESC, s.id DESC LIMIT 1)
WHERE t.purpose = 'unsubscribe';
DELETE FROM auth_tokens WHERE purpose = 'unsubscribe' AND subscription_id IS NULL;
CREATE INDEX auth_tokens_subscription_idx ON auth_tokens (subscription_id) WHERE subscription_id IS NOT NULL;
ALTER TABLE auth_tokens DROP CONSTRAINT auth_tokens_unsubscribe_check;
ALTER TABLE auth_tokens ADD CONSTRAINT auth_tokens_unsubscribe_check
    CHECK (purpose <> 'unsubscribe' OR subscription_id IS NOT NULL);
ALTER TABLE auth_tokens DROP COLUMN subscriber_list_id;
