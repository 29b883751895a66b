#!/usr/bin/env bash
# Helm chart validation: renders helm/remedy with its default values and with
# values-production.yaml, lints it strictly and validates every manifest against the
# Kubernetes schemas (.ci/helm_check.py). No `helm` binary is installable from the package
# registries reachable here, so Helm's own Go engine comes from PyPI's helm-python-sdk
# (libhelm_c over Helm's SDK) and the schemas from kubernetes-validate. Fails on any problem.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${REMEDY_HELM_VENV:-/var/tmp/remedy-helm-venv}"
PACKAGES=(helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 PyYAML)

if ! "$VENV/bin/python" -c 'import helm_python, kubernetes_validate, yaml' 2>/dev/null; then
  if ! python3 -m venv --help >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PACKAGES[@]}"
fi

"$VENV/bin/python" .ci/helm_check.py helm/remedy
