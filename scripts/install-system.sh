#!/usr/bin/env bash
# System packages the tests use: kcat (a third-party Kafka client), Prometheus and promtool,
# openssl (certificates for the secured broker).
# Java 17 and Maven (for the Apache Kafka broker in deploy/kafka) are expected on the machine;
# they are installed from Debian's packages if missing.
set -euo pipefail
need=()
command -v kcat >/dev/null || need+=(kcat)
command -v prometheus >/dev/null || need+=(prometheus)
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v openssl >/dev/null || need+=(openssl)  # test certificates (deploy/kafka/tls.sh)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
