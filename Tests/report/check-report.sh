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

# 4. The corpus's 8-colour FlowJo workspace on stand-in files (long gate paths, Time, logicle
#    polygons, an ellipse), when ../shared is present.
corpus="../shared/corpus/flowjo/8_color_data_set"
pages="validate-wsp validate-csv report"
if [ -d "$corpus" ]; then
  "$bin" synth "$out/standins" --events 5000 --flowjo-workspace "$corpus/8_color_ICS_with_ellipse.wsp" >/dev/null
  "$bin" validate --manual "$corpus/8_color_ICS_with_ellipse.wsp" --fcs "$out/standins" \
    --report "$out/validate-8colour.html" >/dev/null || true
  pages="$pages validate-8colour"
else
  echo "check-report: ../shared is absent: the 8-colour FlowJo page is not checked"
fi

render validate-wsp 2600
render validate-csv 3000
render report 1200
[ -f "$out/validate-8colour.html" ] && render validate-8colour 3000

# Layout as laid out by Chromium: every SVG text inside its plot (nothing clipped) and no two
# texts of a plot overlapping. A copy of each page gets a measuring script (the reports
# themselves have none); a known-bad page is checked first.
measure='<script>(function(){var out=[];document.querySelectorAll("svg.plot").forEach(function(svg){
var sr=svg.getBoundingClientRect(),name=svg.getAttribute("aria-label")||"plot";
var ts=[].slice.call(svg.querySelectorAll("text")).map(function(t){return{r:t.getBoundingClientRect(),s:t.textContent};}).filter(function(a){return a.r.width>0;});
ts.forEach(function(a){if(a.r.left<sr.left-0.5||a.r.right>sr.right+0.5||a.r.top<sr.top-0.5||a.r.bottom>sr.bottom+0.5)out.push("clipped: \""+a.s+"\" in "+name);});
for(var i=0;i<ts.length;i++)for(var j=i+1;j<ts.length;j++){var a=ts[i].r,b=ts[j].r;
var w=Math.min(a.right,b.right)-Math.max(a.left,b.left),h=Math.min(a.bottom,b.bottom)-Math.max(a.top,b.top);
if(w>1&&h>1)out.push("overlap: \""+ts[i].s+"\" and \""+ts[j].s+"\" in "+name);}});
var pre=document.createElement("pre");pre.id="layout-check";pre.textContent=JSON.stringify({plots:document.querySelectorAll("svg.plot").length,problems:out});document.body.appendChild(pre);})();</script>'
layout() {  # layout NAME: $out/NAME.layout.json from the page with the measuring script
  local name="$1"
  { sed 's#</body></html>##' "$out/$name.html"; printf '%s</body></html>\n' "$measure"; } >"$out/$name.measure.html"
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --no-first-run --window-size=1400,1000 \
    --virtual-time-budget=5000 --dump-dom "file://$out/$name.measure.html" 2>/dev/null \
    | python3 -c 'import sys,re,html; m=re.search(r"<pre id=\"layout-check\">(.*?)</pre>",sys.stdin.read(),re.S); print(html.unescape(m.group(1)) if m else "{\"plots\":-1,\"problems\":[\"no measurement\"]}")' >"$out/$name.layout.json"
}
printf '%s' '<!DOCTYPE html><html><body><svg class="plot" width="100" height="60" aria-label="probe"><text x="2" y="20" class="ptitle">a title far too long for this plot</text><text x="2" y="40">one</text><text x="4" y="42">two</text></svg></body></html>' >"$out/layout-probe.html"
layout layout-probe
python3 - "$out/layout-probe.layout.json" <<'PY' || { echo "check-report: the layout check does not see clipped or overlapping text" >&2; exit 1; }
import json, sys
d = json.load(open(sys.argv[1]))
assert any(p.startswith("clipped") for p in d["problems"]) and any(p.startswith("overlap") for p in d["problems"]), d
PY
for page in $pages; do layout "$page"; done

python3 - "$out" <<'PY'
import json, os, re, struct, sys, zlib
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
    "validate-wsp": (6 + 5, 7, 11, 7, "PASS"),
    "validate-csv": (24 * 6, 6, 0, 24 * 7, "PASS"),
    "report": (2 * 6, 0, 0, 2 * 7, None),
}
if os.path.exists(f"{out}/validate-8colour.html"):
    # 3 samples x 15 two-dimensional FlowJo gates; stand-ins are not FlowJo's data: FAIL.
    expect["validate-8colour"] = (3 * 15, 0, 3 * 15, 0, "FAIL")
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
    lay = json.load(open(f"{out}/{name}.layout.json"))
    if lay["plots"] != got[0] + got[1]: problems.append(f"layout measured {lay['plots']} plots, expected {got[0] + got[1]}")
    problems += lay["problems"][:10]
    status = "ok" if not problems else "FAIL: " + "; ".join(problems)
    print(f"check-report: {name}: {got[0]} density + {got[1]} Bland-Altman plots, {images} images, {pix} coloured pixels, console clean={not console}: {status}")
    failed |= bool(problems)
sys.exit(1 if failed else 0)
PY
if [ "${UPDATE_DOCS:-0}" = "1" ]; then
  cp "$out/validate-wsp.png" docs/validation-report.png
  echo "check-report: docs/validation-report.png updated"
fi
