#!/usr/bin/env bash
# Test certificates for the secured local broker (kafka.sh start-secure): a CA, a server
# certificate for 127.0.0.1/localhost, and client certificates whose CN is the principal.
#
#   deploy/kafka/tls.sh DIR SERVER_NAME CLIENT...   makes what DIR does not have yet
#
# DIR/ca.crt (trust this), DIR/NAME.crt + DIR/NAME.key (PEM, key unencrypted), and for the
# server DIR/NAME.pem (key and certificate in one file, as Kafka's PEM keystore wants it).
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
  openssl pkcs8 -topk8 -nocrypt -in "$name.key.pem" -out "$name.key"
  rm -f "$name.key.pem"
  printf '%s\n' "$ext" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
    -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}
make_cert "$server" "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth,clientAuth"
cat "$server.key" "$server.crt" > "$server.pem"
for client in "$@"; do
  make_cert "$client" "extendedKeyUsage=clientAuth"
done
