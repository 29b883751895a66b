"""Renders helm/remedy with its default values and with values-production.yaml, lints it
strictly, and validates every manifest against the Kubernetes OpenAPI schemas (strict: unknown
fields are errors). Helm's own Go engine does the linting and rendering (helm-python-sdk binds
libhelm_c); kubernetes-validate holds the schemas. Exits 1 on any problem."""
import sys
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import yaml

KUBE_VERSION = "1.30.0"
CHART = Path(sys.argv[1] if len(sys.argv) > 1 else "helm/remedy").resolve()
SEVERITY = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}
problems: list[str] = []


def service_monitor(doc: dict, where: str) -> None:
    """monitoring.coreos.com/v1 is a CRD: no schema ships with Kubernetes; check its shape."""
    spec = doc.get("spec") or {}
    if doc.get("apiVersion") != "monitoring.coreos.com/v1":
        problems.append(f"{where}: ServiceMonitor apiVersion {doc.get('apiVersion')}")
    if not (spec.get("selector") or {}).get("matchLabels"):
        problems.append(f"{where}: ServiceMonitor without spec.selector.matchLabels")
    endpoints = spec.get("endpoints") or []
    if not endpoints or not all(e.get("port") and e.get("path") for e in endpoints):
        problems.append(f"{where}: ServiceMonitor endpoints need a port and a path")


def check(label: str, values: dict) -> None:
    report = helm.lint(CHART, values, strict=True, kube_version="v" + KUBE_VERSION)
    for m in report.get("messages", []):
        if m.get("severity", 0) >= 2:
            problems.append(f"[{label}] lint {SEVERITY.get(m['severity'])}: {m.get('path')}: {m.get('error')}")
    for e in report.get("errors", []):
        problems.append(f"[{label}] lint: {e}")
    chart = helm.Chart.load(CHART)
    chart.validate_schema(values)
    rendered = chart.render(values, name="remedy", namespace="remedy", is_install=True)
    kinds = []
    for path, text in sorted(rendered.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            where = f"[{label}] {path}: {doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
            kinds.append(doc.get("kind"))
            if doc.get("kind") == "ServiceMonitor":
                service_monitor(doc, where)
                continue
            try:
                kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
            except kubernetes_validate.ValidationError as e:
                problems.append(f"{where}: {'.'.join(map(str, e.path))}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError as e:
                problems.append(f"{where}: no schema: {e}")
    print(f"[{label}] rendered and validated: {', '.join(sorted(kinds))}")


def main() -> int:
    check("default values", {})
    production = yaml.safe_load((CHART / "values-production.yaml").read_text())
    check("values-production.yaml", production)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"helm chart: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("helm chart: lint clean, every manifest valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
