#!/usr/bin/env bash
# Runs the whole service locally: PostgreSQL and Redis (installed and
# started when missing), migrations, demo lists, the development identity
# provider (dev-oidc), then api + frontend + worker in one process.
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL="${DATABASE_URL:-postgres:///email_alert?sslmode=disable}"

scripts/services.sh email_alert
# Built as every build of the service is (internal/testkit/testrig/proc.BuildTags).
CGO_ENABLED=0 go build -tags nomsgpack -o bin/ ./cmd/...
bin/email-alert migrate
psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -f scripts/demo-lists.sql

# The service's OIDC defaults point at dev-oidc on DEV_OIDC_ADDR
# (127.0.0.1:3099): both read it from this environment.
export DEV_OIDC_ADDR="${DEV_OIDC_ADDR:-127.0.0.1:3099}"
bin/dev-oidc &
idp=$!
trap 'kill "$idp" 2>/dev/null; wait "$idp" 2>/dev/null' EXIT

public="${PUBLIC_URL:-http://localhost:3000}"
api="http://${API_ADDR:-127.0.0.1:3088}"
token="${API_TOKENS:-dev-api-token}"
token="${token%%,*}"
cat <<TXT

  email-alert is starting.
    Sign in:   $public/email/manage/authenticate   (by email, or with the dev identity provider)
    Subscribe: $public/email/subscriptions/new?topic_id=hmrc-tax-updates
    Outbox:    $public/dev/outbox   (emails written locally)
    Dev IdP:   http://$DEV_OIDC_ADDR/   (back-channel logout buttons)
    JSON API:  $api   (Authorization: Bearer $token)
    Health:    $api/healthcheck/ready

  Try:
    curl -H 'Authorization: Bearer $token' $api/subscriber-lists/hmrc-tax-updates

TXT
bin/email-alert all
