-- One-click unsubscribe (RFC 8058). Every email about a list carries, in
-- its List-Unsubscribe header (SMTP) or Notify's one_click_unsubscribe_url,
-- a URL holding an unsubscribe token. Alerts and digests make theirs when
-- they are sent; the "You've subscribed" email is rendered when it is
-- written, and its token exists in the clear only then, so the URL is kept
-- beside the body (which holds the same token in its unsubscribe link) and
-- is emptied with it once the email has been delivered (mail.Purge).
--
-- A subscription ended that way is recorded with a cause of its own,
-- one_click (id: the auth_tokens.id of the token in the URL): the mail
-- client or provider posted it, not a person on our pages.

-- +goose Up
ALTER TABLE emails ADD COLUMN list_unsubscribe_url text;

ALTER TABLE subscriber_audit DROP CONSTRAINT subscriber_audit_cause_kind_check,
    ADD CONSTRAINT subscriber_audit_cause_kind_check
    CHECK (cause_kind IN ('api', 'session', 'email_link', 'one_click', 'event', 'system'));

-- +goose Down
-- The audit keeps its entries: a one-click ending was the use of an emailed link.
UPDATE subscriber_audit SET cause_kind = 'email_link' WHERE cause_kind = 'one_click';
ALTER TABLE subscriber_audit DROP CONSTRAINT subscriber_audit_cause_kind_check,
    ADD CONSTRAINT subscriber_audit_cause_kind_check
    CHECK (cause_kind IN ('api', 'session', 'email_link', 'event', 'system'));

ALTER TABLE emails DROP COLUMN list_unsubscribe_url;
