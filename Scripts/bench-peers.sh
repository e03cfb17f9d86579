#!/usr/bin/env bash
# The user-level paths as whole processes, beside the peers, in one run (issue 17):
#   Scripts/bench-peers.sh [WORK_DIR]     (default: .build/bench-peers; needs ~2 GB there)
# Workloads (made once, by our code): the 144 x 50,000-event synth cohort; a 10^7-event
# 10-channel file; 10^7 x 12 float32 and int16 files; a 50 MB neutral lab export. Peers run
# from a local venv (fcsparser, FlowKit 1.3.2; pip, not project dependencies). Prints one table:
# wall seconds (best of 3), peak RSS, instructions (perf stat, where the kernel allows it) and
# ratios to the peer. The machine is noisy: compare ratios from the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-.build/bench-peers}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
swift build -c release --product cytoingest >/dev/null
bin="$(pwd)/.build/release/cytoingest"
venv="$work/venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet fcsparser flowkit==1.3.2
fi
py="$venv/bin/python"
have_perf=0
# Instruction counts need a PMU (often absent in VMs: perf says "<not supported>").
if command -v perf >/dev/null && perf stat -e instructions -x, true 2>&1 | grep -q '^[0-9]'; then have_perf=1; fi

# --- workloads ---------------------------------------------------------------------------
[ -f "$work/cohort/truth.json" ] || "$bin" synth "$work/cohort" --patients 24 --months 6 --events 50000 >/dev/null
[ -f "$work/big/fcs/P001_M00.fcs" ] || "$bin" synth "$work/big" --patients 1 --months 1 --events 10000000 >/dev/null
[ -f "$work/flowkit/fcs/P001_M00.fcs" ] || "$bin" synth "$work/flowkit" --patients 1 --months 1 --events 2000000 >/dev/null
"$py" - "$work" <<'PY'
import math, os, sys, numpy as np, flowio
work = sys.argv[1]
for kind in ("f32", "i16"):
    path = f"{work}/wide-{kind}.fcs"
    if os.path.exists(path): continue
    rng = np.random.default_rng(7)
    n = 10_000_000
    data = rng.uniform(0, 60000, size=(n, 12))
    names = [f"P{i}" for i in range(12)]
    with open(path, "wb") as fh:
        if kind == "f32":
            flowio.create_fcs(fh, data.astype(np.float32).ravel(), names)
        else:
            # int16 via flowio is not offered: write FCS 3.1 I/16 by hand.
            text = {"$BEGINANALYSIS": "0", "$ENDANALYSIS": "0", "$BEGINSTEXT": "0", "$ENDSTEXT": "0",
                    "$BYTEORD": "1,2", "$DATATYPE": "I", "$MODE": "L", "$NEXTDATA": "0", "$PAR": "12", "$TOT": str(n)}
            for i, nm in enumerate(names, 1):
                text.update({f"$P{i}B": "16", f"$P{i}E": "0,0", f"$P{i}N": nm, f"$P{i}R": "65536"})
            body = data.astype(np.uint16).tobytes()
            def build(begin):
                t = dict(text, **{"$BEGINDATA": str(begin), "$ENDDATA": str(begin + len(body) - 1)})
                return ("|" + "|".join(f"{k}|{v}" for k, v in t.items()) + "|").encode()
            seg = build(0)
            for _ in range(3): seg = build(58 + len(seg))
            begin = 58 + len(seg)
            header = b"FCS3.1    " + b"%8d%8d%8d%8d%8d%8d" % (58, 58 + len(seg) - 1, 0, 0, 0, 0)
            fh.write(header + seg + body)
path = f"{work}/labs50.xml"
if not os.path.exists(path):
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<HivRnaExport xmlns="urn:hivrna-export:v1" schemaVersion="1.0" exportId="BENCH" createdAt="2024-12-31T00:00:00Z">\n  <Source><Laboratory id="L1">Benchmark lab</Laboratory></Source>\n  <Assays><Assay id="A1" kit="COBAS AmpliPrep/COBAS TaqMan HIV-1 Test" unit="copies/mL" lod="20" lloq="20" uloq="10000000" iuPerCopy="1.7"/></Assays>\n']
    size, n, run = len(parts[0]), 0, 0
    while size < 50_000_000:
        run += 1
        parts.append(f'  <Run id="RUN-{run}" assayRef="A1" completedAt="2024-06-01T15:00:00Z" runStatus="valid">\n')
        for _ in range(1000):
            n += 1; c = 20 + (n * 7919) % 9000000
            parts.append(f'    <Result id="R-{n}"><PatientId>P{n % 24 + 1:03d}</PatientId><SpecimenId>S-{n}</SpecimenId><SpecimenType>plasma-EDTA</SpecimenType><CollectedAt>2024-05-0{1 + n % 9}T08:30:00Z</CollectedAt><ResultedAt>2024-06-01T16:00:00Z</ResultedAt><Status>final</Status><Quantified unit="copies/mL">{c}</Quantified><Log10>{math.log10(c):.2f}</Log10><InstrumentText>{c} cp/mL</InstrumentText></Result>\n')
        parts.append("  </Run>\n")
        size = sum(map(len, parts))
    parts.append("</HivRnaExport>\n")
    open(path, "w").write("".join(parts))
PY
mkdir -p "$work/labrun/fcs"
cp -n "$work/cohort/registry.csv" "$work/cohort/panel.xml" "$work/labrun/"
cp -n "$work/cohort/fcs/P001_M00.fcs" "$work/labrun/fcs/"
sed "s|\"labs\": \[\"labs/hivrna-export.xml\"\]|\"labs\": [\"$work/labs50.xml\"]|" "$work/cohort/pipeline.json" >"$work/labrun/pipeline.json"

# --- measuring ---------------------------------------------------------------------------
rows=()
measure() {  # measure LABEL DIR PREP CMD...: best wall of 3, its RSS and instructions
  local label="$1" dir="$2" prep="$3"; shift 3
  local best="" rss="" ins="-"
  for _ in 1 2 3; do
    (cd "$dir" && eval "$prep")
    (cd "$dir" && /usr/bin/time -o "$work/.time" -f "%e %M" "$@" >/dev/null 2>&1) || true
    local t w r
    t=$(tail -1 "$work/.time")
    w=${t% *}
    r=${t#* }
    if [ -z "$best" ] || awk "BEGIN{exit !($w < $best)}"; then best=$w; rss=$r; fi
  done
  if [ "$have_perf" = 1 ]; then
    (cd "$dir" && eval "$prep")
    ins=$(cd "$dir" && perf stat -e instructions -x, "$@" 2>&1 >/dev/null | awk -F, '/instructions/{printf "%.2fG", $1/1e9}')
  fi
  [ "$have_perf" = 1 ] || ins="n/a (no PMU)"
  rows+=("$label|$best|$((rss / 1024))|$ins")
  echo "$label: $best s, $((rss / 1024)) MB, $ins instructions" >&2
}

measure "run: 144 files, fresh store" "$work/cohort" "rm -f cytoingest.sqlite*" "$bin" run --config pipeline.json
measure "run: nothing new" "$work/cohort" "true" "$bin" run --config pipeline.json
measure "run: every input touched" "$work/cohort" "touch fcs/*" "$bin" run --config pipeline.json
measure "peer fcsparser: read the 144 files" "$work/cohort" "true" "$py" -c "import glob, fcsparser; [fcsparser.parse(f, reformat_meta=False) for f in sorted(glob.glob('fcs/*.fcs'))]"
measure "gate: 10^7 events, panel strategy" "$work/big" "true" "$bin" gate fcs/P001_M00.fcs --gating-ml panel.xml --format json
measure "gate: 2x10^6 events, panel strategy" "$work/flowkit" "true" "$bin" gate fcs/P001_M00.fcs --gating-ml panel.xml --format json
measure "peer FlowKit: gate 2x10^6 events, same strategy" "$work/flowkit" "true" "$py" -c "import flowkit as fk; s=fk.Sample('fcs/P001_M00.fcs'); g=fk.parse_gating_xml('panel.xml'); r=g.gate_sample(s); print(len(r.report))"
measure "inspect --stats: 10^7 x 12 float32 (480 MB)" "$work" "true" "$bin" inspect wide-f32.fcs --format json --stats
measure "peer fcsparser: read 10^7 x 12 float32" "$work" "true" "$py" -c "import fcsparser; fcsparser.parse('wide-f32.fcs', reformat_meta=False)"
measure "inspect --stats: 10^7 x 12 int16 (240 MB)" "$work" "true" "$bin" inspect wide-i16.fcs --format json --stats
measure "peer fcsparser: read 10^7 x 12 int16" "$work" "true" "$py" -c "import fcsparser; fcsparser.parse('wide-i16.fcs', reformat_meta=False)"
measure "run: 50 MB lab export into a fresh store" "$work/labrun" "rm -f cytoingest.sqlite*" "$bin" run --config pipeline.json
measure "run: lab export stored, nothing new" "$work/labrun" "true" "$bin" run --config pipeline.json
measure "labs check text: 50 MB" "$work" "true" "$bin" labs check labs50.xml
measure "labs check json: 50 MB" "$work" "true" "$bin" labs check labs50.xml --format json

echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1 /proc/loadavg)"
printf '| %s | %s | %s | %s |\n' "path" "wall s (best of 3)" "peak RSS MB" "instructions"
printf '|---|---|---|---|\n'
for r in "${rows[@]}"; do IFS='|' read -r a b c d <<<"$r"; printf '| %s | %s | %s | %s |\n' "$a" "$b" "$c" "$d"; done
wall() { for r in "${rows[@]}"; do IFS='|' read -r a b _ _ <<<"$r"; [ "$a" = "$1" ] && echo "$b"; done; }
ratio() { awk -v a="$(wall "$1")" -v b="$(wall "$2")" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo
echo "ratios (ours / peer's wall time; < 1 is faster):"
echo "  ingest 144 files vs fcsparser reading them: $(ratio 'run: 144 files, fresh store' 'peer fcsparser: read the 144 files')"
echo "  gate 2x10^6 events vs FlowKit: $(ratio 'gate: 2x10^6 events, panel strategy' 'peer FlowKit: gate 2x10^6 events, same strategy')"
echo "  inspect float32 vs fcsparser: $(ratio 'inspect --stats: 10^7 x 12 float32 (480 MB)' 'peer fcsparser: read 10^7 x 12 float32')"
echo "  inspect int16 vs fcsparser: $(ratio 'inspect --stats: 10^7 x 12 int16 (240 MB)' 'peer fcsparser: read 10^7 x 12 int16')"
