#!/usr/bin/env python3
"""Validates a FHIR R4 (4.0.1) JSON resource or Bundle with fhir.resources 5.1.x, whose models
are generated from the official R4 StructureDefinitions: every element's type, cardinality and
value set bindings of required strength, the invariants the package implements, and every
resource of a Bundle's entries. A reference tool for tests (`FHIRExportTests`), never a runtime
dependency. Prints one line per problem; exit 0 when valid, 1 otherwise, 2 when the package is
missing.

    python3 -m venv /tmp/fhirvenv && /tmp/fhirvenv/bin/pip install fhir.resources==5.1.1
    /tmp/fhirvenv/bin/python Scripts/fhir-validate.py bundle.json
"""
import json
import sys

import importlib

try:
    import fhir.resources
except ImportError:
    print("fhir.resources is not installed (pip install fhir.resources==5.1.1)")
    sys.exit(2)

if fhir.resources.__fhir_version__ != "4.0.1":
    print(f"fhir.resources models FHIR {fhir.resources.__fhir_version__}, not R4 4.0.1")
    sys.exit(2)

def construct_fhir_element(resource_type, data):
    """The R4 model class of the resource type, built strictly (raises on any problem)."""
    module = importlib.import_module(f"fhir.resources.{resource_type.lower()}")
    return getattr(module, resource_type)(data, strict=True)


doc = json.load(open(sys.argv[1]))
problems = []
try:
    construct_fhir_element(doc["resourceType"], doc)
except Exception as e:  # pydantic's ValidationError lists every problem
    problems.append(f"{doc.get('resourceType')}: {e}")
for i, entry in enumerate(doc.get("entry", [])):
    r = entry.get("resource", {})
    try:
        construct_fhir_element(r["resourceType"], r)
    except Exception as e:
        problems.append(f"entry[{i}] {r.get('resourceType')}/{r.get('id')}: {e}")
for p in problems:
    print(p)
print(f"{len(doc.get('entry', []))} entries, {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
