#!/usr/bin/env python3
"""Reference counts for the FlowJo stand-in files, from FlowKit 1.3.2 (an independent evaluator).

    python3 -m venv /tmp/fk && /tmp/fk/bin/pip install flowkit==1.3.2
    cytoingest synth /tmp/standins --events 30000 --seed 1 \
        $(for w in ../shared/corpus/flowjo/8_color_data_set/*.wsp; do echo --flowjo-workspace "$w"; done)
    /tmp/fk/bin/python Scripts/flowjo-standin-reference.py /tmp/standins \
        ../shared/corpus/flowjo/8_color_data_set/*.wsp > fixtures/flowjo-standins/flowkit-counts.csv

For every workspace x sample x population: FlowKit's count (`Workspace.analyze_samples`), and
for ellipses an exact count computed here (FlowKit approximates a FlowJo ellipse by a
128-vertex polygon; the exact ellipse from FlowJo's edge points, on FlowKit's own compensated
and transformed events inside FlowKit's parent population).

One adaptation, written down because it changes inputs, not FlowKit: FlowKit ignores the `gain`
of FlowJo's Time transform (it scales Time by `$TIMESTEP` only; flowWorkspace#356 shows FlowJo
shows ticks x gain). FlowKit is given a copy of each file whose `$TIMESTEP` is that gain, so its
Time values are FlowJo's, as in FlowJo. The stand-ins' SHA-256 are printed as comment lines so
a test can tell a changed generator from a changed evaluator.
"""
import csv, hashlib, os, re, sys, tempfile
import numpy as np
import flowio
import flowkit as fk
from lxml import etree

standins, workspaces = sys.argv[1], sys.argv[2:]
out = csv.writer(sys.stdout, lineterminator="\n")
for name in sorted(os.listdir(standins)):
    digest = hashlib.sha256(open(os.path.join(standins, name), "rb").read()).hexdigest()
    print(f"# {name} sha256 {digest}")
print(f"# flowkit {fk.__version__}, flowio {flowio.__version__ if hasattr(flowio, '__version__') else '?'}, numpy {np.__version__}")
out.writerow(["workspace", "sample", "gate_path", "gate_type", "flowkit_count", "exact_count"])

NS = {"gating": "http://www.isac-net.org/std/Gating-ML/v2.0/gating",
      "transforms": "http://www.isac-net.org/std/Gating-ML/v2.0/transformations",
      "data-type": "http://www.isac-net.org/std/Gating-ML/v2.0/datatypes"}

def time_gains(wsp):
    """sample file name -> the gain of its Time linear transform."""
    tree = etree.parse(wsp)
    gains = {}
    for s in tree.getroot().iter("Sample"):
        uri = s.find("DataSet").get("uri")
        fname = re.split(r"[/\\]", uri)[-1]
        for lin in s.find("Transformations").findall("transforms:linear", NS):
            p = lin.find("data-type:parameter", NS).get("{%s}name" % NS["data-type"])
            if p == "Time":
                gains[fname] = float(lin.get("gain", "1"))
    return gains

def ellipses(wsp):
    """(sample file name, gate path tuple) -> (dims, foci, edges) in 256-bin display units."""
    tree = etree.parse(wsp)
    found = {}
    for s in tree.getroot().iter("Sample"):
        fname = re.split(r"[/\\]", s.find("DataSet").get("uri"))[-1]
        for pop in s.find("SampleNode").iter("Population"):
            g = pop.find("Gate/gating:EllipsoidGate", NS)
            if g is None:
                continue
            path, node = [], pop
            while node is not None and node.tag == "Population":
                path.insert(0, node.get("name"))
                node = node.getparent().getparent()
            dims = [d.find("data-type:fcs-dimension", NS).get("{%s}name" % NS["data-type"]) for d in g.findall("gating:dimension", NS)]
            edges = [[float(c.get("{%s}value" % NS["data-type"])) for c in v.findall("gating:coordinate", NS)]
                     for v in g.find("gating:edge", NS).findall("gating:vertex", NS)]
            found[(fname, tuple(path))] = (dims, np.array(edges))
    return found

def inside_ellipse(x, y, edges):
    e = edges
    c = (e[0] + e[1] + e[2] + e[3]) / 4
    d1, d2 = np.linalg.norm(e[0] - e[1]), np.linalg.norm(e[2] - e[3])
    major = (e[0], e[1]) if d1 >= d2 else (e[2], e[3])
    a, b = max(d1, d2) / 2, min(d1, d2) / 2
    u = (major[1] - major[0]) / np.linalg.norm(major[1] - major[0])
    v = np.array([-u[1], u[0]])
    px, py = x - c[0], y - c[1]
    return ((px * u[0] + py * u[1]) / a) ** 2 + ((px * v[0] + py * v[1]) / b) ** 2 <= 1

for wsp in workspaces:
    gains = time_gains(wsp)
    ell = ellipses(wsp)
    with tempfile.TemporaryDirectory() as tmp:
        for name in os.listdir(standins):
            f = flowio.FlowData(os.path.join(standins, name))
            meta = dict(f.text)
            if name in gains:
                meta["timestep"] = repr(gains[name])
            f.write_fcs(os.path.join(tmp, name), metadata=meta)
        try:
            w = fk.Workspace(wsp, fcs_samples=tmp)
        except Exception as error:  # FlowKit refuses some workspaces (e.g. a gate named ".")
            print(f"# {os.path.basename(wsp)}: FlowKit refuses it: {type(error).__name__}: {error}")
            continue
        sample_ids = sorted(w.get_sample_ids())
        w.analyze_samples(use_mp=False)
        for sid in sample_ids:
            try:
                report = w.get_gating_results(sid).report
            except Exception:
                continue
            for _, r in report.iterrows():
                path = tuple(list(r["gate_path"])[1:]) + (r["gate_name"],)
                exact = ""
                if (sid, path) in ell:
                    dims, edges = ell[(sid, path)]
                    parent = tuple(list(r["gate_path"]))
                    mask = w.get_gate_membership(sid, path[-2], gate_path=parent[:-1]) if len(path) > 1 else None
                    sample = w.get_sample(sid)
                    xforms = w.get_transforms(sid)
                    comp = w.get_comp_matrix(sid)
                    sample.apply_compensation(comp)
                    ev = sample.as_dataframe(source="comp")
                    cols = []
                    for d in dims:
                        det = d[len("Comp-"):] if d.startswith("Comp-") else d
                        raw = ev[det].to_numpy(dtype=float).reshape(-1, 1)
                        xf = xforms.get(d) or xforms.get(det)
                        cols.append(xf.apply(raw).ravel() * 256.0)
                    ins = inside_ellipse(cols[0], cols[1], edges)
                    if mask is not None:
                        ins &= mask
                    exact = int(ins.sum())
                out.writerow([os.path.relpath(wsp, os.path.dirname(os.path.dirname(wsp))), sid, "/".join(path),
                              r["gate_type"], int(r["count"]), exact])
