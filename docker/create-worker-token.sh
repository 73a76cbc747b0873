#!/bin/sh
# One-shot (docker-compose service "worker-token"): creates a worker-role token with the admin token and
# writes it to $DISTILL_TOKEN_FILE for the workers, unless the file already holds one.
set -eu
out=${DISTILL_TOKEN_FILE:?DISTILL_TOKEN_FILE is required}
if [ -s "$out" ]; then
  echo "worker token already in $out"
  exit 0
fi
url=${DISTILL_URL:?DISTILL_URL is required}
admin=${DISTILL_ADMIN_TOKEN:?DISTILL_ADMIN_TOKEN is required}
body=$(curl -fsS -X POST "$url/v1/tokens" -H "Authorization: Bearer $admin" \
  -H 'Content-Type: application/json' -d "{\"name\":\"${DISTILL_TOKEN_NAME:-compose-workers}\",\"role\":\"worker\"}")
token=$(printf '%s' "$body" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
if [ -z "$token" ]; then
  echo "no token in the answer of POST /v1/tokens: $body" >&2
  exit 1
fi
umask 077
printf '%s' "$token" > "$out"
echo "worker token written to $out"
