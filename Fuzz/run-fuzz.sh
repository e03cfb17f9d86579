#!/usr/bin/env bash
# Builds a libFuzzer + AddressSanitizer target and fuzzes it.
#   Fuzz/run-fuzz.sh fcs  [SECONDS]   FCS reader, seeded with fixtures/fcs
#   Fuzz/run-fuzz.sh labs [SECONDS]   HIV RNA importer, seeded with the cohort's lab XML, our
#                                     format examples and (when present) ../shared/corpus/hivrna
#   Fuzz/run-fuzz.sh wsp  [SECONDS]   FlowJo workspace reader and gating of its trees, seeded with
#                                     our workspace and (when present) ../shared/corpus/flowjo
#   Fuzz/run-fuzz.sh config [SECONDS] configuration loader and lab mapping profiles (pipeline.json,
#                                     then a NUL byte and lab XML read through its profiles)
# A third argument JOBS runs that many fuzzing processes at once (-jobs/-workers: a campaign on
# every core). Every run also starts from the minimised corpus kept in Fuzz/corpus/TARGET.tar.gz;
# with FUZZ_MERGE=1 the run's corpus (which started from it) is minimised into it again
# (-merge=1: only inputs that add coverage).
# Findings (crash-*, leak-*, timeout-*) land in Fuzz/work/TARGET/artifacts and fail the script.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:?usage: run-fuzz.sh fcs|labs|wsp|config [SECONDS] [JOBS]}"
seconds="${2:-60}"
jobs="${3:-1}"
kept="Fuzz/corpus/$target.tar.gz"
# A run whose corpus is kept (FUZZ_MERGE=1) is seeded only from this repository's own files, so
# that nothing derived from ../shared (read in place, not ours to copy) enters Fuzz/corpus.
own="${FUZZ_MERGE:-0}"
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
    if [ -d ../shared/corpus/hivrna ] && [ "$own" = 0 ]; then seeds+=(../shared/corpus/hivrna/*.xml); fi
    if [ -d ../shared/corpus/drift-cohort/hivrna ] && [ "$own" = 0 ]; then
      seeds+=(../shared/corpus/drift-cohort/hivrna/*.xml)
    fi
    seed "${seeds[@]}"
    # The Labs module over SafeXML and the shared model (CytoModel).
    modules
    quiet swiftc "${flags[@]}" "${xml[@]}" -I "$work" -module-name LabFuzz \
      Sources/Labs/*.swift Fuzz/LabImporterFuzz.swift "$work/safexml.o" "$work/cytomodel.o" -lxml2 -lz -o "$work/fuzz"
    ;;
  config)
    # pipeline.json texts, and configurations with a mapping profile followed by a file of its format.
    for f in pipeline.json fixtures/cohort/pipeline.json; do
      { printf '%s' "$(cat "$f")"; } > "$work/corpus/seed-config-$(basename "$(dirname "$f")")"
    done
    python3 - "$work/corpus" "$own" <<'PY'
import json, sys
out = sys.argv[1]
base = json.load(open("pipeline.json"))
batch = json.load(open("fixtures/labs/viral-load-batch.profile.json"))
lis = {"name": "lis", "recordPath": "/LabResultExport/Row",
       "fields": {"patient": "MRN", "specimen": "Accession", "testCode": "TestCode", "collected": "Collected",
                  "resulted": "Verified", "result": "Result", "unit": "Units", "status": "Status", "analyzer": "Analyzer"},
       "dateFormat": "MM/dd/yyyy HH:mm", "timeZone": "America/New_York",
       "statusMap": {"F": "final", "C": "corrected", "P": "preliminary", "X": "cancelled"},
       "testCodes": {"HIV1QN": "copies", "HIV1IU": "iu", "HIV1LG": "log10"},
       "analyzers": {"CTM48-01": {"name": "CAP/CTM v2", "lod": 20, "lloq": 20, "uloq": 10000000, "iuPerCopy": 1.7}}}
docs = [(batch, "fixtures/labs/viral-load-batch-example.xml")]
import os
if os.path.exists("../shared/corpus/hivrna/vendor-generic-lis-export.xml") and sys.argv[2] == "0":
    docs.append((lis, "../shared/corpus/hivrna/vendor-generic-lis-export.xml"))
for i, (profile, doc) in enumerate(docs):
    c = dict(base)
    c["labs"] = {"patientIdentifierSystem": "urn:x", "profiles": [profile]}
    with open(f"{out}/seed-profile-{i}", "wb") as f:
        f.write(json.dumps(c).encode() + b"\0" + open(doc, "rb").read())
PY
    modules
    for m in Gating:"Sources/Gating/*/*.swift" Deflate:"Sources/Deflate/*.swift" \
      Analysis:"Sources/Analysis/*.swift Sources/Analysis/*/*.swift" Labs:"Sources/Labs/*.swift" \
      Records:"Sources/Records/*.swift" Review:"Sources/Review/*/*.swift" Store:"Sources/Store/StoreLocation.swift"; do
      name="${m%%:*}"; files="${m#*:}"
      # shellcheck disable=SC2086
      quiet swiftc "${flags[@]}" "${xml[@]}" -I "$work" -wmo -c -module-name "$name" -emit-module \
        -emit-module-path "$work/$name.swiftmodule" $files -o "$work/$(echo "$name" | tr A-Z a-z).o"
    done
    quiet swiftc "${flags[@]}" "${xml[@]}" -I "$work" -module-name Pipeline \
      Sources/Pipeline/Config/PipelineConfiguration.swift Sources/Pipeline/Config/ConfigurationKeys.swift \
      Fuzz/ConfigFuzz.swift "$work"/safexml.o "$work"/fcsparser.o "$work"/cytomodel.o "$work"/gating.o \
      "$work"/deflate.o "$work"/analysis.o "$work"/labs.o "$work"/records.o "$work"/review.o "$work"/store.o \
      -lxml2 -lz -o "$work/fuzz"
    ;;
  wsp)
    seeds=(fixtures/cohort/flowjo/*.wsp)
    if [ -d ../shared/corpus/flowjo ] && [ "$own" = 0 ]; then seeds+=(../shared/corpus/flowjo/simple_*/*.wsp ../shared/corpus/flowjo/8_color_data_set/8_color_ICS_simple.wsp); fi
    seed "${seeds[@]}"
    modules
    quiet swiftc "${flags[@]}" "${xml[@]}" -I "$work" -module-name Gating \
      Sources/Gating/*/*.swift Fuzz/FlowJoFuzz.swift "$work/safexml.o" "$work/fcsparser.o" -lxml2 -lz -o "$work/fuzz"
    ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac
test -x "$work/fuzz"
if [ -f "$kept" ]; then tar -xzf "$kept" -C "$work/corpus"; fi
export SWIFT_BACKTRACE=enable=no
export LSAN_OPTIONS="suppressions=$PWD/Fuzz/lsan.supp:print_suppressions=0"
set +e
if [ "$jobs" -gt 1 ]; then
  # A campaign: JOBS processes share the corpus; each writes fuzz-N.log in $work.
  (cd "$work" && ./fuzz corpus -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix=artifacts/ -print_final_stats=1 -jobs="$jobs" -workers="$jobs" > fuzz.log 2>&1)
  status=$?
  cat "$work"/fuzz-*.log >> "$work/fuzz.log" 2>/dev/null
else
  "$work/fuzz" "$work/corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$work/artifacts/" -print_final_stats=1 > "$work/fuzz.log" 2>&1
  status=$?
fi
set -e
grep -E 'INITED|DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|ERROR|SUMMARY' "$work/fuzz.log" | tail -12
findings=$(find "$work/artifacts" -type f | wc -l)
echo "$target fuzz: exit $status, findings $findings, corpus $(ls "$work/corpus" | wc -l) inputs"
if [ "$status" -ne 0 ] || [ "$findings" -ne 0 ]; then
  ls -l "$work/artifacts"
  exit 1
fi
if [ "${FUZZ_MERGE:-0}" = 1 ]; then
  # Keep only inputs that add coverage (the seeds are this repository's fixtures: not kept twice).
  rm -rf "$work/merged" && mkdir -p "$work/merged" Fuzz/corpus
  rm -f "$work/corpus"/seed-*
  "$work/fuzz" -merge=1 "$work/merged" "$work/corpus" > "$work/merge.log" 2>&1
  tail -1 "$work/merge.log"
  # Kept compressed (the inputs are mostly text): one small file per target in the repository.
  tar -czf "$kept" -C "$work/merged" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 .
  echo "$target corpus kept: $(ls "$work/merged" | wc -l) inputs, $(du -sh "$work/merged" | cut -f1) ($(du -h "$kept" | cut -f1) compressed)"
fi
