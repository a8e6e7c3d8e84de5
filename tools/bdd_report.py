"""Turn pytest-bdd's Cucumber JSON into the Markdown test report the seed asks for.

Usage: python -m tools.bdd_report CUCUMBER.json REPORT.md
One table row per scenario: feature, scenario, passed / failed / skipped, and for a failure the
first line of its error, so "Stop-Loss triggered as expected" reads at a glance.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def scenario_status(steps: list[dict]) -> tuple[str, str]:
    """Status of a scenario from its steps' results, with the first failure's message line."""
    statuses = [step.get("result", {}).get("status", "skipped") for step in steps]
    for step in steps:
        result = step.get("result", {})
        if result.get("status") == "failed":
            message = (result.get("error_message") or "").strip().splitlines()
            return "failed", message[-1] if message else ""
    if statuses and all(s == "passed" for s in statuses):
        return "passed", ""
    return "skipped", ""


def report_rows(cucumber: list[dict]) -> list[tuple[str, str, str, str]]:
    """(feature, scenario, status, note) for every scenario in a Cucumber JSON document."""
    rows = []
    for feature in cucumber:
        for element in feature.get("elements", []):
            status, note = scenario_status(element.get("steps", []))
            rows.append((feature.get("name", "?"), element.get("name", "?"), status, note))
    return rows


def render_markdown(rows: list[tuple[str, str, str, str]]) -> str:
    """A Markdown report: a count line, then the table of scenarios."""
    counts = {s: sum(1 for r in rows if r[2] == s) for s in ("passed", "failed", "skipped")}
    lines = [
        "# Scenario test report",
        "",
        f"{len(rows)} scenarios: {counts['passed']} passed, {counts['failed']} failed,"
        f" {counts['skipped']} skipped.",
        "",
        "| feature | scenario | result | note |",
        "|---|---|---|---|",
    ]
    for feature, scenario, status, note in rows:
        cells = [c.replace("|", "\\|") for c in (feature, scenario, status, note)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Read the JSON at argv[0], write the Markdown to argv[1]; exit 2 on bad arguments."""
    if len(argv) != 2:
        print("usage: python -m tools.bdd_report CUCUMBER.json REPORT.md", file=sys.stderr)
        return 2
    source, target = Path(argv[0]), Path(argv[1])
    try:
        cucumber = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        print(f"bdd_report: cannot read {source}: {exc}", file=sys.stderr)
        return 2
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_markdown(report_rows(cucumber)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
