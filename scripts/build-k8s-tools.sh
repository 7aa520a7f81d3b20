#!/usr/bin/env bash
# The Kubernetes tools the chart's tests use, built from their Go modules into .tools/ (no
# download site is needed: the Go module proxy has them):
#   helm           helm.sh/helm/v4 at a pinned version (helm lint, helm template)
#   kube-validate  deploy/helm/validate: rendered manifests strictly decoded into the typed
#                  Kubernetes and Prometheus Operator APIs, offline (its go.sum pins them)
set -euo pipefail
cd "$(dirname "$0")/.."
HELM_VERSION=v4.3.2
TOOLS="$PWD/.tools"
mkdir -p "$TOOLS"
# a module build carries no version stamp: the version built is noted beside it
if [ ! -x "$TOOLS/helm" ] || [ "$(cat "$TOOLS/helm.version" 2>/dev/null)" != "$HELM_VERSION" ]; then
  GOBIN="$TOOLS" go install -buildvcs=false "helm.sh/helm/v4/cmd/helm@${HELM_VERSION}"
  echo "$HELM_VERSION" > "$TOOLS/helm.version"
fi
(cd deploy/helm/validate && go build -buildvcs=false -o "$TOOLS/kube-validate" .)
echo "helm $(cat "$TOOLS/helm.version"), kube-validate built in $TOOLS"
