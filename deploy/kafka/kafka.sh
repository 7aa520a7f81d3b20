#!/usr/bin/env bash
# Single-node Apache Kafka 4.x (KRaft, combined broker+controller) on 127.0.0.1.
#
#   deploy/kafka/kafka.sh fetch            resolve broker jars from Maven Central into $KAFKA_LIB
#   deploy/kafka/kafka.sh start RUN_DIR    format storage, start, wait until it answers;
#                                          prints the bootstrap address (127.0.0.1:PORT); a run
#                                          directory started before keeps its data and ports
#   deploy/kafka/kafka.sh stop RUN_DIR     stop it cleanly (SIGTERM, then SIGKILL after 30 s)
#   deploy/kafka/kafka.sh start-secure RUN_DIR
#                                          the same broker with authentication and ACLs: a
#                                          SASL_SSL listener (SCRAM-SHA-512/256, PLAIN, and
#                                          OAUTHBEARER: RS256 tokens signed by the test identity
#                                          provider, validated against its JWKS; token.sh signs
#                                          them), an SSL listener that requires client
#                                          certificates (mTLS), a controller listener that does
#                                          too, no anonymous principal anywhere, and the
#                                          StandardAuthorizer (no ACL, no access). Certificates
#                                          are made by tls.sh in RUN_DIR/tls. Prints the SASL_SSL
#                                          address; RUN_DIR/bootstrap-ssl holds the mTLS one.
#                                          For local tests only: the keys are unencrypted.
#
# Env: KAFKA_LIB (default deploy/kafka/lib), KAFKA_PORT (default: a free port),
#      KAFKA_HEAP (default -Xmx768m); start-secure: KAFKA_SCRAM_USERS ("name=password ...",
#      default "admin=admin-secret"; admin is the super user), KAFKA_TLS_CLIENTS (client
#      certificates to make, default "admin").
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
lib="${KAFKA_LIB:-$here/lib}"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

cluster_id() {  # a random Kafka cluster id (base64url of 16 bytes) the storage tool accepts:
  # like Kafka's own Uuid.randomUuid, never one that starts with '-' (it reads as an option)
  python3 -c 'import base64,uuid
while True:
    cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not cid.startswith("-"):
        print(cid)
        break'
}

fetch() {
  if [ -f "$lib/.complete" ]; then return 0; fi
  mkdir -p "$lib"
  mvn -q -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies -DoutputDirectory="$lib" >&2
  touch "$lib/.complete"
}

java_run() {  # java_run MAIN_CLASS ARGS...
  local main="$1"; shift
  java ${KAFKA_HEAP:--Xmx768m} -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$here/log4j2.properties" \
    -cp "$lib/*" "$main" "$@"
}

start() {
  local run="$1"
  fetch
  mkdir -p "$run"
  run="$(cd "$run" && pwd)"
  local port cport
  if [ -f "$run/server.properties" ]; then
    # a restart keeps the run directory's ports: clients find the broker where it was
    port="$(sed -n 's#^listeners=[A-Z_]*://127.0.0.1:\([0-9]*\),.*#\1#p' "$run/server.properties")"
    cport="$(sed -n 's#^controller.quorum.voters=1@127.0.0.1:\([0-9]*\)#\1#p' "$run/server.properties")"
  else
    port="${KAFKA_PORT:-$(free_port)}"
    cport="$(free_port)"
  fi
  if [ -f "$run/secure" ]; then
    secure_props "$run" "$port" "$cport"
  else
  cat > "$run/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$run/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.backoff.ms=1000
log.segment.bytes=16777216
PROPS
  fi
  # a run directory started before keeps its data (and its cluster id): format only a new one
  if [ ! -f "$run/data/meta.properties" ]; then
    local scram=()
    if [ -f "$run/secure" ]; then
      for user in ${KAFKA_SCRAM_USERS:-admin=admin-secret}; do
        scram+=(--add-scram "SCRAM-SHA-512=[name=${user%%=*},password=${user#*=}]")
        scram+=(--add-scram "SCRAM-SHA-256=[name=${user%%=*},password=${user#*=}]")
      done
    fi
    java_run kafka.tools.StorageTool format -t "$(cluster_id)" \
      -c "$run/server.properties" "${scram[@]}" > "$run/format.log" 2>&1 \
      || { echo "kafka storage format failed; see $run/format.log" >&2; cat "$run/format.log" >&2; exit 1; }
  fi
  : > "$run/kafka.log"
  # the secured broker may read its token verification keys from this file only
  local allowed=()
  [ -f "$run/secure" ] && allowed=("-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=file://$run/tls/jwks.json")
  # java itself is the background process, so the recorded pid is the broker's own
  nohup java ${KAFKA_HEAP:--Xmx768m} -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$here/log4j2.properties" "${allowed[@]}" \
    -cp "$lib/*" kafka.Kafka "$run/server.properties" > "$run/kafka.log" 2>&1 < /dev/null &
  echo $! > "$run/kafka.pid"
  echo "127.0.0.1:$port" > "$run/bootstrap"
  local deadline=$((SECONDS + 90))
  until grep -q "Kafka Server started" "$run/kafka.log" 2>/dev/null; do
    if ! kill -0 "$(cat "$run/kafka.pid")" 2>/dev/null; then
      echo "kafka exited during start; see $run/kafka.log" >&2; tail -20 "$run/kafka.log" >&2; exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then echo "kafka did not start within 90 s" >&2; stop "$run"; exit 1; fi
    sleep 0.5
  done
  cat "$run/bootstrap"
}

secure_props() {  # secure_props RUN_DIR PORT CONTROLLER_PORT
  local run="$1" port="$2" cport="$3" sport plain_users="" user
  sport="$(sed -n 's#^listeners=.*,SSL://127.0.0.1:\([0-9]*\),.*#\1#p' "$run/server.properties" 2>/dev/null || true)"
  [ -n "$sport" ] || sport="$(free_port)"
  bash "$here/tls.sh" "$run/tls" broker ${KAFKA_TLS_CLIENTS:-admin}
  for user in ${KAFKA_SCRAM_USERS:-admin=admin-secret}; do
    plain_users+=" user_${user%%=*}=\"${user#*=}\""
  done
  cat > "$run/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=SASL_SSL://127.0.0.1:$port,SSL://127.0.0.1:$sport,CONTROLLER://127.0.0.1:$cport
advertised.listeners=SASL_SSL://127.0.0.1:$port,SSL://127.0.0.1:$sport
controller.listener.names=CONTROLLER
inter.broker.listener.name=SSL
listener.security.protocol.map=SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:SSL
ssl.keystore.type=PEM
ssl.keystore.location=$run/tls/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$run/tls/ca.crt
ssl.client.auth=required
listener.name.sasl_ssl.ssl.client.auth=none
ssl.principal.mapping.rules=RULE:^CN=([a-zA-Z0-9._-]+).*\$/\$1/,DEFAULT
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN,OAUTHBEARER
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$plain_users;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;
listener.name.sasl_ssl.oauthbearer.sasl.server.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler
sasl.oauthbearer.jwks.endpoint.url=file://$run/tls/jwks.json
sasl.oauthbearer.jwt.validator.class=org.apache.kafka.common.security.oauthbearer.BrokerJwtValidator
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:broker
log.dirs=$run/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.backoff.ms=1000
log.segment.bytes=16777216
PROPS
  echo "127.0.0.1:$sport" > "$run/bootstrap-ssl"
}

stop() {
  local run="$1" pid
  [ -f "$run/kafka.pid" ] || return 0
  pid="$(cat "$run/kafka.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$run/kafka.pid"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start "${2:?run dir}" ;;
  start-secure) mkdir -p "${2:?run dir}"; touch "$2/secure"; start "$2" ;;
  stop) stop "${2:?run dir}" ;;
  *) echo "usage: $0 fetch | start RUN_DIR | start-secure RUN_DIR | stop RUN_DIR" >&2; exit 2 ;;
esac
