#!/usr/bin/env bash
# Checks the deployment examples of docs/deploy.md with the tools that run without a cluster:
#   - the Slurm script: bash -n and shellcheck (Slurm's own sbatch --test-only needs a controller);
#   - the Kubernetes manifest: every resource against the Kubernetes 1.31 OpenAPI schemas, strictly
#     (kubernetes-validate, from PyPI; `kubectl --dry-run=client` needs an API server for discovery
#     and cannot run here), and its pipeline.json against docs/pipeline.schema.json;
#   - the systemd units: systemd-analyze verify (with ExecStart pointed at the built program).
# Needs: shellcheck, systemd-analyze, python3 with venv and jsonschema; BIN (a built cytoingest).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/.build/debug/cytoingest}
d=docs/deploy

bash -n "$d/slurm-workers.sbatch"
shellcheck "$d/slurm-workers.sbatch"
echo "check-deploy: $d/slurm-workers.sbatch: bash -n and shellcheck clean"

venv=/tmp/cytoingest-k8s-venv
if ! "$venv/bin/kubernetes-validate" --version >/dev/null 2>&1; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet kubernetes-validate==1.37.0
fi
"$venv/bin/kubernetes-validate" --kubernetes-version 1.31.0 --strict --quiet "$d/kubernetes-workers.yaml"
"$venv/bin/python" - "$d/kubernetes-workers.yaml" docs/pipeline.schema.json <<'PY'
import json, sys, yaml
try:
    import jsonschema
except ImportError:
    import subprocess
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "jsonschema"])
    import jsonschema
docs = [doc for doc in yaml.safe_load_all(open(sys.argv[1])) if doc]
config = next(doc for doc in docs if doc["kind"] == "ConfigMap")["data"]["pipeline.json"]
jsonschema.validate(json.loads(config), json.load(open(sys.argv[2])))
PY
echo "check-deploy: $d/kubernetes-workers.yaml: 3 resources valid against Kubernetes 1.31 (strict); its pipeline.json valid"

units=$(mktemp -d)
trap 'rm -rf "$units"' EXIT
sed "s#/usr/local/bin/cytoingest#$BIN#" "$d/cytoingest-worker@.service" >"$units/cytoingest-worker@.service"
cp "$d/cytoingest-worker@.timer" "$units/"
ln -s "$units/cytoingest-worker@.service" "$units/cytoingest-worker@1.service"
ln -s "$units/cytoingest-worker@.timer" "$units/cytoingest-worker@1.timer"
out=$(cd "$units" && systemd-analyze verify ./cytoingest-worker@1.service ./cytoingest-worker@1.timer 2>&1) || {
  echo "$out"
  exit 1
}
if [ -n "$out" ]; then
  echo "$out"
  exit 1
fi
echo "check-deploy: $d/cytoingest-worker@.service and .timer: systemd-analyze verify clean"
