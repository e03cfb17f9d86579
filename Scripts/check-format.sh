#!/usr/bin/env bash
# Fails when a Swift file is not formatted as .swift-format says (swift-format from the
# toolchain): formats a copy of the tree and compares it with the files as committed.
set -euo pipefail
cd "$(dirname "$0")/.."
paths=(Package.swift Sources Tests Fuzz Benchmarks/Package.swift Benchmarks/Benchmarks)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for p in "${paths[@]}"; do mkdir -p "$tmp/$(dirname "$p")"; cp -r "$p" "$tmp/$p"; done
cp .swift-format "$tmp/"
(cd "$tmp" && swift format format --in-place --recursive --configuration .swift-format "${paths[@]}")
status=0
for p in "${paths[@]}"; do
  if ! diff -r -q "$p" "$tmp/$p" >/dev/null; then
    diff -r -u "$p" "$tmp/$p" | head -40
    status=1
  fi
done
if [ $status -ne 0 ]; then echo "check-format: run: swift format format -i -r --configuration .swift-format ${paths[*]}"; else echo "check-format: every Swift file is formatted"; fi
exit $status
