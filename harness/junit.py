"""JUnit XML from results.json, so CI systems show every check of a run as a test case.

One ``<testsuite>`` per run (named after the test), one ``<testcase>`` per checker and per
``--expect`` bound: a checker that found an anomaly or a broken bound is a ``<failure>``, one
that could not decide is ``<skipped>``, a run that crashed is an ``<error>``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def suite(name: str, results: Mapping[str, Any] | None, seconds: float = 0.0) -> ET.Element:
    """The ``<testsuite>`` of one run; ``results=None`` means the run never got to a verdict."""
    el = ET.Element("testsuite", name=name, time=f"{seconds:.3f}")
    if results is None:
        case = ET.SubElement(el, "testcase", classname=name, name="run")
        ET.SubElement(case, "error", message="the harness failed before a verdict")
        return _count(el)
    for checker, result in sorted(results.get("checkers", {}).items()):
        case = ET.SubElement(el, "testcase", classname=name, name=f"checker.{checker}")
        valid = result.get("valid")
        summary = json.dumps(_headline(result), sort_keys=True, default=str)
        if valid is False:
            ET.SubElement(case, "failure", message=f"{checker}: invalid").text = summary
        elif valid is not True:
            ET.SubElement(case, "skipped", message=f"{checker}: could not decide")
        else:
            ET.SubElement(case, "system-out").text = summary
    for bound in results.get("expect", []):
        case = ET.SubElement(el, "testcase", classname=name, name=f"expect {bound['bound']}")
        message = f"{bound['bound']}: actual {bound.get('actual')}"
        if bound["result"] == "broken":
            ET.SubElement(case, "failure", message=message)
        elif bound["result"] != "held":
            ET.SubElement(case, "skipped", message=message)
    return _count(el)


def _headline(result: Mapping[str, Any]) -> dict[str, Any]:
    """The scalar fields of a checker's result: what a person wants in the CI log."""
    return {k: v for k, v in result.items() if isinstance(v, (int, float, str, bool))}


def _count(el: ET.Element) -> ET.Element:
    cases = el.findall("testcase")
    el.set("tests", str(len(cases)))
    el.set("failures", str(sum(c.find("failure") is not None for c in cases)))
    el.set("errors", str(sum(c.find("error") is not None for c in cases)))
    el.set("skipped", str(sum(c.find("skipped") is not None for c in cases)))
    return el


def write(suites: Sequence[ET.Element], path: Path) -> Path:
    root = ET.Element("testsuites")
    for s in suites:
        root.append(s)
    for attr in ("tests", "failures", "errors", "skipped"):
        root.set(attr, str(sum(int(s.get(attr, "0")) for s in suites)))
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def from_run_dir(run_dir: Path, name: str | None = None) -> ET.Element:
    """The suite of a stored run (its results.json), named after its test unless ``name``."""
    path = run_dir / "results.json"
    results = json.loads(path.read_text()) if path.exists() else None
    test_name = name or (results or {}).get("test", {}).get("name") or run_dir.parent.name
    return suite(test_name, results)
