#!/usr/bin/env bash
# Builds the FCS reader with libFuzzer + AddressSanitizer and fuzzes it.
#   Fuzz/run-fcs-fuzz.sh [SECONDS]   (default 60)
# Seeds: every file under fixtures/fcs. Findings (crash-*, leak-*, timeout-*) land in
# Fuzz/work/artifacts and fail the script.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
work=Fuzz/work
mkdir -p "$work/corpus" "$work/artifacts"
# Each seed is a selector byte (reader options) followed by a fixture file.
i=0
for f in $(find fixtures/fcs -type f | sort); do
  for sel in '\x00' '\x41'; do
    { printf "$sel"; cat "$f"; } > "$work/corpus/seed-$i"; i=$((i + 1))
  done
done
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name FCSParser \
  -swift-version 6 -package-name CytoIngest -I Sources/CZlib -lz \
  Sources/FCSParser/*/*.swift Fuzz/FCSReaderFuzz.swift -o "$work/fcs-fuzz" 2>&1 | grep -v 'warning:' || true
test -x "$work/fcs-fuzz"
export SWIFT_BACKTRACE=enable=no
set +e
"$work/fcs-fuzz" "$work/corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 2>&1 | tee "$work/fuzz.log" | grep -E 'DONE|stat::|ERROR|SUMMARY|pulse|INITED' | tail -20
status=${PIPESTATUS[0]}
set -e
findings=$(find "$work/artifacts" -type f | wc -l)
echo "fcs fuzz: exit $status, findings $findings"
if [ "$status" -ne 0 ] || [ "$findings" -ne 0 ]; then
  ls -l "$work/artifacts"
  exit 1
fi
