#!/usr/bin/env bash
# Test certificates for the secured local broker (kafka.sh start-secure): a CA, a server
# certificate for 127.0.0.1/localhost, and client certificates whose CN is the principal.
#
#   deploy/kafka/tls.sh DIR SERVER_NAME CLIENT...   makes what DIR does not have yet
#
# DIR/ca.crt (trust this), DIR/NAME.crt + DIR/NAME.key (PEM, key unencrypted, mode 600), and
# for the server DIR/NAME.pem (key and certificate in one file, as Kafka's PEM keystore wants
# it). Also the OAUTHBEARER signing key of a test identity provider: DIR/oauth.key (RSA, mode
# 600) and its public key as a JWKS, DIR/jwks.json, which the broker validates tokens against
# (deploy/kafka/token.sh signs them).
# For local tests only: EXAMPLE material, never a secret, never for production.
set -euo pipefail
dir="$1"; server="$2"; shift 2
mkdir -p "$dir"
cd "$dir"
if [ ! -f ca.crt ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=orchestrator-test-ca" \
    -keyout ca.key -out ca.crt 2>/dev/null
fi
make_cert() {  # make_cert NAME EXTENSIONS
  local name="$1" ext="$2"
  [ -f "$name.crt" ] && return 0
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$name.key.pem" \
    -out "$name.csr" 2>/dev/null
  # PKCS#8, as Java reads it
  ( umask 077; openssl pkcs8 -topk8 -nocrypt -in "$name.key.pem" -out "$name.key" )
  chmod 600 "$name.key"
  rm -f "$name.key.pem"
  printf '%s\n' "$ext" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
    -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}
make_cert "$server" "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth,clientAuth"
( umask 077; cat "$server.key" "$server.crt" > "$server.pem" )
for client in "$@"; do
  make_cert "$client" "extendedKeyUsage=clientAuth"
done
if [ ! -f oauth.key ]; then
  ( umask 077; openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out oauth.key 2>/dev/null )
  # the JWKS of its public key (n and e, base64url without padding)
  modulus="$(openssl rsa -in oauth.key -noout -modulus 2>/dev/null | sed 's/^Modulus=//')"
  python3 - "$modulus" > jwks.json <<'PY'
import base64, json, sys
n = bytes.fromhex(sys.argv[1])
b64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")
print(json.dumps({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "orchestrator-test",
                            "n": b64(n), "e": b64((65537).to_bytes(3, "big"))}]}))
PY
fi
