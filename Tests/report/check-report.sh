#!/usr/bin/env bash
# Renders CytoIngest's HTML reports in headless Chromium as a person would see them: takes a
# screenshot of each, checks the page has the expected plots (in the rendered DOM and as
# coloured pixels in the screenshot) and that Chromium logged no console message (the report has
# no script, so any console message is a fault). A known-bad page is checked first, so the
# console check is shown to catch what it should.
#
#   Tests/report/check-report.sh [OUT_DIR]      (default: .build/report-check)
#   UPDATE_DOCS=1 Tests/report/check-report.sh  also copies the screenshot to docs/
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-.build/report-check}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
bin=".build/debug/cytoingest"
[ -x "$bin" ] || swift build --product cytoingest
browser="$(command -v chromium || command -v chromium-browser || true)"
[ -n "$browser" ] || { echo "check-report: chromium is not installed (Debian package chromium)" >&2; exit 1; }

render() {  # render NAME HEIGHT: screenshot and DOM of $out/NAME.html, console lines to $out/NAME.console
  local name="$1" height="$2"
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --enable-logging=stderr --v=0 --window-size=1400,"$height" \
    --screenshot="$out/$name.png" "file://$out/$name.html" 2>"$out/$name.log" >/dev/null
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --no-first-run --enable-logging=stderr --v=0 \
    --dump-dom "file://$out/$name.html" 2>>"$out/$name.log" >"$out/$name.dom"
  grep -a "CONSOLE" "$out/$name.log" >"$out/$name.console" || true
}

# 0. The checker must see a console message on a page that writes one.
printf '<!DOCTYPE html><html><body><p>bad</p><script>console.error("report-check-probe")</script></body></html>' >"$out/probe.html"
render probe 300
grep -q "report-check-probe" "$out/probe.console" || { echo "check-report: the console check does not see console messages" >&2; exit 1; }

# 1. A FlowJo workspace on a cohort file: panel plots with automated and manual gates.
"$bin" validate --manual fixtures/cohort/flowjo/P003_M03.wsp --report "$out/validate-wsp.html" >/dev/null
# 2. The cohort's manual worksheet (CSV): 24 samples, Bland-Altman plots.
"$bin" validate --manual fixtures/cohort/manual-gating.csv --report "$out/validate-csv.html" >/dev/null
# 3. Gating report of two files, no manual gates.
"$bin" report fixtures/cohort/fcs/P001_M00.fcs.gz fixtures/cohort/fcs/P004_M05.fcs.gz -o "$out/report.html" >/dev/null

render validate-wsp 2600
render validate-csv 3000
render report 1200

python3 - "$out" <<'PY'
import re, struct, sys, zlib
out = sys.argv[1]

def pixels(path):
    """Decodes an 8-bit RGB/RGBA PNG (all five filters) -> (width, height, channels, rows)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            ch = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, rows, prev = zlib.decompress(idat), w * ch, [], bytearray(w * ch)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - ch] if i >= ch else 0
            b, c = prev[i], prev[i - ch] if i >= ch else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line); prev = line
    return w, h, ch, rows

def coloured(path):
    """Pixels that are clearly coloured (density plots), not grey/black/white text and lines."""
    w, h, ch, rows = pixels(path)
    n = 0
    for line in rows:
        for x in range(0, w * ch, ch):
            r, g, b = line[x], line[x + 1], line[x + 2]
            if max(r, g, b) - min(r, g, b) > 80: n += 1
    return n

# name: (density plots, Bland-Altman plots, manual outlines at least, automated outlines, verdict)
expect = {
    "validate-wsp": (4 + 5, 7, 9, 4, "PASS"),
    "validate-csv": (24 * 4, 6, 0, 24 * 4, "PASS"),
    "report": (2 * 4, 0, 0, 2 * 4, None),
}
failed = False
for name, (density, ba, manual, automated, verdict) in expect.items():
    dom = open(f"{out}/{name}.dom", encoding="utf-8").read()
    console = open(f"{out}/{name}.console", encoding="utf-8", errors="replace").read().strip()
    got = (dom.count('<svg class="plot density"'), dom.count('<svg class="plot bland-altman"'),
           dom.count('class="gate manual"'), dom.count('class="gate automated"'))
    images = dom.count('href="data:image/png;base64,')
    pix = coloured(f"{out}/{name}.png")
    problems = []
    if got[0] != density: problems.append(f"{got[0]} density plots, expected {density}")
    if got[1] != ba: problems.append(f"{got[1]} Bland-Altman plots, expected {ba}")
    if got[2] < manual: problems.append(f"{got[2]} manual outlines, expected >= {manual}")
    if got[3] != automated: problems.append(f"{got[3]} automated outlines, expected {automated}")
    if images != density: problems.append(f"{images} embedded density images, expected {density}")
    if verdict and f'id="verdict">{verdict}' not in dom: problems.append(f"verdict is not {verdict}")
    if re.search(r'(src|href)="(https?:)?//', dom): problems.append("the page refers to the network")
    if "<script" in dom: problems.append("the page has a script")
    if console: problems.append("console messages: " + console[:300])
    if pix < 2000: problems.append(f"only {pix} coloured pixels in the screenshot: plots not drawn")
    status = "ok" if not problems else "FAIL: " + "; ".join(problems)
    print(f"check-report: {name}: {got[0]} density + {got[1]} Bland-Altman plots, {images} images, {pix} coloured pixels, console clean={not console}: {status}")
    failed |= bool(problems)
sys.exit(1 if failed else 0)
PY
if [ "${UPDATE_DOCS:-0}" = "1" ]; then
  cp "$out/validate-wsp.png" docs/validation-report.png
  echo "check-report: docs/validation-report.png updated"
fi
