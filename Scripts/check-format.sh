#!/usr/bin/env bash
# Fails when a tracked Swift file is not formatted as .swift-format says (swift-format from the
# toolchain): formats copies of the files and compares them with the files as they are.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mapfile -t files < <(git ls-files '*.swift')
for f in "${files[@]}"; do mkdir -p "$tmp/$(dirname "$f")"; cp "$f" "$tmp/$f"; done
cp .swift-format "$tmp/"
(cd "$tmp" && swift format format --in-place --configuration .swift-format "${files[@]}")
status=0
for f in "${files[@]}"; do
  if ! cmp -s "$f" "$tmp/$f"; then
    diff -u "$f" "$tmp/$f" | head -20
    status=1
  fi
done
if [ $status -ne 0 ]; then
  echo "check-format: not formatted; run: swift format format -i --configuration .swift-format \$(git ls-files '*.swift')"
else
  echo "check-format: ${#files[@]} Swift files formatted as .swift-format says"
fi
exit $status
