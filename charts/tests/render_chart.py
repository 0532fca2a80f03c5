#!/usr/bin/env python3
"""Lint, render and validate the Helm chart with a real Helm (helm-python-sdk binds
Helm's Go library) and kubernetes-validate, and print the findings as JSON.

Usage: render_chart.py CHART_DIR VALUES_JSON [KUBE_VERSION ...]

Prints one JSON object on stdout:
  {"lint": {kube_version: {"messages": [...], "errors": [...]}},
   "render_error": str | null,
   "objects": [rendered Kubernetes objects, in template order],
   "crds": [the chart's crds/ objects],
   "validation": {kube_version: {"ok": bool, "output": str}}}
Findings are data: the caller (operator/tests/helm_chart.rs) decides what must hold.
Exits 3 with an install hint when a Python dependency is missing.
"""

import json
import os
import subprocess
import sys
import tempfile

try:
    import helm_python as helm
    import yaml
except ImportError as err:  # pragma: no cover - environment problem, not a chart problem
    print(f"missing Python package ({err}); run: pip install -r .ci/requirements.txt", file=sys.stderr)
    sys.exit(3)

RELEASE = "tidewater"
NAMESPACE = "tidewater-system"


def lint(chart_dir, values, kube_version):
    report = helm.lint(chart_dir, values, strict=True, namespace=NAMESPACE, kube_version=f"v{kube_version}")
    return {
        "messages": [f"[{m.get('severity')}] {m.get('path')}: {m.get('error')}" for m in report.get("messages", [])],
        "errors": [str(e) for e in report.get("errors", [])],
    }


def render(chart_dir, values):
    with helm.Chart.load(chart_dir) as chart:
        manifests = chart.render(values=values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        crds = [doc for c in chart.crds for doc in yaml.safe_load_all(c["data"]) if doc]
    objects = []
    for path in sorted(manifests):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(manifests[path]) if doc)
    return objects, crds


def validate(objects, kube_version, workdir):
    """Runs the kubernetes-validate CLI, strict, on one file per object."""
    files = []
    for i, obj in enumerate(objects):
        path = os.path.join(workdir, f"{i:02d}-{obj.get('kind', 'unknown')}.yaml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(obj, f)
        files.append(path)
    proc = subprocess.run(
        ["kubernetes-validate", "--strict", "--quiet", "-k", kube_version, *files],
        capture_output=True,
        text=True,
        check=False,
    )
    return {"ok": proc.returncode == 0, "output": (proc.stdout + proc.stderr).strip()}


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    chart_dir, values = argv[1], json.loads(argv[2])
    kube_versions = argv[3:] or ["1.30.0", "1.37.0"]
    result = {"lint": {}, "render_error": None, "objects": [], "crds": [], "validation": {}}
    for version in kube_versions:
        result["lint"][version] = lint(chart_dir, values, version)
    try:
        result["objects"], result["crds"] = render(chart_dir, values)
    except helm.HelmError as err:
        result["render_error"] = str(err)
    if result["objects"]:
        with tempfile.TemporaryDirectory(prefix="tidewater-chart-") as workdir:
            for version in kube_versions:
                result["validation"][version] = validate(result["objects"] + result["crds"], version, workdir)
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
