#!/usr/bin/env bash
# Runs the whole service locally: PostgreSQL and Redis (installed and
# started when missing), migrations, demo lists, then api + frontend +
# worker in one process. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL="${DATABASE_URL:-postgres:///email_alert?sslmode=disable}"

scripts/services.sh email_alert
go build -o bin/ ./cmd/...
bin/email-alert migrate
psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -f scripts/demo-lists.sql

api="http://${API_ADDR:-127.0.0.1:3088}"
token="${API_TOKENS:-dev-api-token}"
token="${token%%,*}"
cat <<TXT

  email-alert is starting.
    Pages:     ${PUBLIC_URL:-http://localhost:3000}/email/manage/authenticate
    Outbox:    ${PUBLIC_URL:-http://localhost:3000}/dev/outbox   (emails written locally)
    JSON API:  $api   (Authorization: Bearer $token)
    Health:    $api/healthcheck/ready

  Try:
    curl -H 'Authorization: Bearer $token' $api/subscriber-lists/hmrc-tax-updates

TXT
exec bin/email-alert all
