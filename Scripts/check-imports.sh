#!/usr/bin/env bash
# Fails when a module imports one it must not: dependencies point one way, from the CLI down to
# FCSParser (docs/architecture.md). SwiftPM on Linux lets a target import any module built
# before it, so the manifest alone does not enforce this. Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."

# module: the modules it may import (besides Foundation, the C shims' libc, and itself).
declare -A allowed=(
  [FCSParser]="CZlib"
  [SafeXML]="CLibXML2 CZlib"
  [Deflate]="CZlib"
  [Gating]="FCSParser SafeXML"
  [CytoModel]=""
  [Analysis]="Gating FCSParser CytoModel"
  [Labs]="SafeXML CytoModel"
  [Records]="CytoModel"
  [Store]="CytoModel GRDB CSQLiteShim PostgresNIO"
  [Review]="Analysis Gating FCSParser CytoModel Deflate"
  [Pipeline]="Analysis Labs Records Store Review Gating FCSParser CytoModel Crypto"
  [Synth]="FCSParser Gating CytoModel Deflate"
  [cytoingest]="Pipeline Review Store Labs Analysis Records Gating FCSParser CytoModel Synth ArgumentParser"
  [TestSupport]="FCSParser Deflate"
)
always="Foundation Glibc Darwin Musl Dispatch"

status=0
for dir in Sources/*/; do
  module=$(basename "$dir")
  case "$module" in CZlib|CLibXML2|CSQLiteShim) continue ;; esac
  if [[ ! -v "allowed[$module]" ]]; then
    echo "check-imports: module $module has no entry in Scripts/check-imports.sh (add it with its allowed imports)"
    status=1
    continue
  fi
  while IFS= read -r line; do
    file=${line%%:*}
    rest=${line#*:}
    lineno=${rest%%:*}
    imported=$(sed -E 's/^[[:space:]]*(@[A-Za-z_]+[[:space:]]+)*import[[:space:]]+(class |struct |enum |func |protocol |var |let )?([A-Za-z_][A-Za-z0-9_]*).*/\3/' <<<"${rest#*:}")
    if [[ " $always ${allowed[$module]} " != *" $imported "* ]]; then
      echo "$file:$lineno: $module must not import $imported (allowed: ${allowed[$module]:-none})"
      status=1
    fi
  done < <(grep -rnE '^[[:space:]]*(@[A-Za-z_]+[[:space:]]+)*import[[:space:]]' "$dir" --include='*.swift' || true)
done
if [ $status -eq 0 ]; then echo "check-imports: every module imports only what it may"; fi
exit $status
