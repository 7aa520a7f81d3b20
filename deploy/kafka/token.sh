#!/usr/bin/env bash
# An OAUTHBEARER token (a JWT signed RS256) from the test identity provider that tls.sh makes,
# for the secured local broker (kafka.sh start-secure validates tokens against its JWKS).
#
#   deploy/kafka/token.sh TLS_DIR SUBJECT [LIFETIME_S]     prints the token
#
# For local tests only: the signing key is EXAMPLE material in TLS_DIR/oauth.key.
set -euo pipefail
dir="$1"; sub="$2"; life="${3:-3600}"
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now="$(date +%s)"
header="$(printf '{"alg":"RS256","typ":"JWT","kid":"orchestrator-test"}' | b64url)"
payload="$(printf '{"sub":"%s","iat":%d,"exp":%d,"scope":"kafka"}' "$sub" "$now" "$((now + life))" | b64url)"
signature="$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$dir/oauth.key" | b64url)"
printf '%s.%s.%s\n' "$header" "$payload" "$signature"
