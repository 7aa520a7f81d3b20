#!/usr/bin/env bash
# Sign an operator command for the orchestrator with bash and openssl only: a signer outside
# Python, written from the canonical signed form in README ("The signed form"), and checked by
# tests/unit/test_signer.py against the worker's own verification.
#
#   sign-command.sh KEY_FILE rollback MODEL ACTOR REASON [TO_VERSION]
#   sign-command.sh KEY_FILE override MODEL:VERSION promote|reject ACTOR REASON
#
# Prints the signed command as one JSON line (send it keyed by MODEL, or MODEL:VERSION for an
# override, to the commands topic, e.g. with kcat -K'|'). KEY_FILE holds the actor's key
# (mode 600, at least 16 bytes; surrounding whitespace is not part of it). The environment may
# set EVENT_ID, NONCE and ISSUED_AT (any RFC 3339 form with an offset: it is signed as written).
# The key is handed to openssl on its command line: on a shared machine use the orchestrator
# CLI or client instead.
set -euo pipefail
export LC_ALL=C.UTF-8

key_file="$1"; kind="$2"; shift 2
mode="$(stat -c %a "$key_file")"
if [ "$((8#$mode & 8#077))" -ne 0 ]; then
  echo "sign-command.sh: $key_file: readable by group or others (mode $mode); chmod 600 it" >&2; exit 2
fi
key="$(tr -d ' \t\r\n' < "$key_file")"
if [ "${#key}" -lt 16 ]; then echo "sign-command.sh: $key_file: a key needs at least 16 bytes" >&2; exit 2; fi

json_str() {  # $1 as a JSON string, escaped as the worker's canonical JSON (orjson) escapes it
  local s="$1" out="" c code i
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    case "$c" in
      '"') out+='\"' ;;
      '\') out+='\\' ;;
      $'\n') out+='\n' ;;
      $'\t') out+='\t' ;;
      $'\r') out+='\r' ;;
      $'\b') out+='\b' ;;
      $'\f') out+='\f' ;;
      *)
        printf -v code '%d' "'$c"
        if [ "$code" -ge 0 ] && [ "$code" -lt 32 ]; then printf -v c '\\u%04x' "$code"; fi
        out+="$c" ;;
    esac
  done
  printf '"%s"' "$out"
}

event_id="${EVENT_ID:-$kind-$(cat /proc/sys/kernel/random/uuid)}"
nonce="${NONCE:-$(openssl rand -hex 16)}"
issued_at="${ISSUED_AT:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}"
# the canonical form: every field but the signature, keys sorted, no spaces
case "$kind" in
  rollback)
    model="$1"; actor="$2"; reason="$3"; to_version="${4:-}"
    body="{\"actor\":$(json_str "$actor"),\"event_id\":$(json_str "$event_id"),\"issued_at\":$(json_str "$issued_at"),\"model\":$(json_str "$model"),\"nonce\":$(json_str "$nonce"),\"reason\":$(json_str "$reason")"
    [ -n "$to_version" ] && body+=",\"to_version\":$(json_str "$to_version")"
    body+=",\"type\":\"command.rollback\",\"v\":1}" ;;
  override)
    subject="$1"; outcome="$2"; actor="$3"; reason="$4"
    body="{\"actor\":$(json_str "$actor"),\"event_id\":$(json_str "$event_id"),\"issued_at\":$(json_str "$issued_at"),\"nonce\":$(json_str "$nonce"),\"outcome\":$(json_str "$outcome"),\"reason\":$(json_str "$reason"),\"subject\":$(json_str "$subject"),\"type\":\"command.override\",\"v\":1}" ;;
  *) echo "usage: sign-command.sh KEY_FILE rollback|override ..." >&2; exit 2 ;;
esac
signature="$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$key" -r | cut -d' ' -f1)"
printf '%s,"signature":"%s"}\n' "${body%\}}" "$signature"
