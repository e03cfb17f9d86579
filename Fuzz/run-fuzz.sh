#!/usr/bin/env bash
# Builds a libFuzzer + AddressSanitizer target and fuzzes it.
#   Fuzz/run-fuzz.sh fcs  [SECONDS]   FCS reader, seeded with fixtures/fcs
#   Fuzz/run-fuzz.sh labs [SECONDS]   HIV RNA importer, seeded with the cohort's lab XML, our
#                                     format examples and (when present) ../shared/corpus/hivrna
#   Fuzz/run-fuzz.sh wsp  [SECONDS]   FlowJo workspace reader and gating of its trees, seeded with
#                                     our workspace and (when present) ../shared/corpus/flowjo
# Findings (crash-*, leak-*, timeout-*) land in Fuzz/work/TARGET/artifacts and fail the script.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:?usage: run-fuzz.sh fcs|labs|wsp [SECONDS]}"
seconds="${2:-60}"
work="Fuzz/work/$target"
rm -rf "$work/corpus" "$work/artifacts"
mkdir -p "$work/corpus" "$work/artifacts"
flags=(-O -sanitize=fuzzer,address -parse-as-library -swift-version 6 -package-name CytoIngest)
quiet() { "$@" 2>&1 | grep -E 'error' || true; }

# Seeds: a selector byte (options) followed by an input file.
seed() {
  local i=0 f sel
  for f in "$@"; do
    for sel in '\x00' '\x03'; do
      { printf "$sel"; cat "$f"; } > "$work/corpus/seed-$i"; i=$((i + 1))
    done
  done
}

# SafeXML and FCSParser as separate modules (objects + .swiftmodule in $work).
xml=(-I Sources/CLibXML2 -I Sources/CZlib -Xcc -I/usr/include/libxml2)
modules() {
  quiet swiftc "${flags[@]}" "${xml[@]}" -wmo -c -module-name SafeXML -emit-module \
    -emit-module-path "$work/SafeXML.swiftmodule" Sources/SafeXML/*.swift -o "$work/safexml.o"
  quiet swiftc "${flags[@]}" -I Sources/CZlib -wmo -c -module-name FCSParser -emit-module \
    -emit-module-path "$work/FCSParser.swiftmodule" Sources/FCSParser/*/*.swift -o "$work/fcsparser.o"
  quiet swiftc "${flags[@]}" -wmo -c -module-name CytoModel -emit-module \
    -emit-module-path "$work/CytoModel.swiftmodule" Sources/CytoModel/*.swift -o "$work/cytomodel.o"
}

case "$target" in
  fcs)
    seed $(find fixtures/fcs -type f | sort)
    quiet swiftc "${flags[@]}" -module-name FCSParser -I Sources/CZlib -lz \
      Sources/FCSParser/*/*.swift Fuzz/FCSReaderFuzz.swift -o "$work/fuzz"
    ;;
  labs)
    seeds=(fixtures/cohort/labs/*.xml fixtures/labs/*.xml)
    if [ -d ../shared/corpus/hivrna ]; then seeds+=(../shared/corpus/hivrna/*.xml); fi
    if [ -d ../shared/corpus/drift-cohort/hivrna ]; then seeds+=(../shared/corpus/drift-cohort/hivrna/*.xml); fi
    seed "${seeds[@]}"
    # The Labs module over SafeXML and the shared model (CytoModel).
    modules
    quiet swiftc "${flags[@]}" "${xml[@]}" -I "$work" -module-name LabFuzz \
      Sources/Labs/*.swift Fuzz/LabImporterFuzz.swift "$work/safexml.o" "$work/cytomodel.o" -lxml2 -lz -o "$work/fuzz"
    ;;
  wsp)
    seeds=(fixtures/cohort/flowjo/*.wsp)
    if [ -d ../shared/corpus/flowjo ]; then seeds+=(../shared/corpus/flowjo/simple_*/*.wsp ../shared/corpus/flowjo/8_color_data_set/8_color_ICS_simple.wsp); fi
    seed "${seeds[@]}"
    modules
    quiet swiftc "${flags[@]}" "${xml[@]}" -I "$work" -module-name Gating \
      Sources/Gating/*/*.swift Fuzz/FlowJoFuzz.swift "$work/safexml.o" "$work/fcsparser.o" -lxml2 -lz -o "$work/fuzz"
    ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac
test -x "$work/fuzz"
export SWIFT_BACKTRACE=enable=no
set +e
"$work/fuzz" "$work/corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 > "$work/fuzz.log" 2>&1
status=$?
set -e
grep -E 'INITED|DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|ERROR|SUMMARY' "$work/fuzz.log" | tail -8
findings=$(find "$work/artifacts" -type f | wc -l)
echo "$target fuzz: exit $status, findings $findings"
if [ "$status" -ne 0 ] || [ "$findings" -ne 0 ]; then
  ls -l "$work/artifacts"
  exit 1
fi
