"""The Markdown scenario report built from pytest-bdd's Cucumber JSON."""

import json

from tools.bdd_report import main, render_markdown, report_rows, scenario_status

CUCUMBER = [
    {"name": "Bot", "elements": [
        {"name": "Stop-Loss triggered as expected", "steps": [
            {"result": {"status": "passed"}}, {"result": {"status": "passed"}}]},
        {"name": "Take-profit | fires", "steps": [
            {"result": {"status": "passed"}},
            {"result": {"status": "failed", "error_message": "Traceback\nAssertionError: no row"}},
            {"result": {"status": "skipped"}}]},
        {"name": "Needs shared data", "steps": [{"result": {"status": "skipped"}}]},
    ]},
]


def test_scenario_status_reads_the_steps():
    """
    Given steps that all passed, and steps with one failure
    When the scenario status is derived
    Then the first is passed and the second failed with the error's last line
    """
    assert scenario_status(CUCUMBER[0]["elements"][0]["steps"]) == ("passed", "")
    assert scenario_status(CUCUMBER[0]["elements"][1]["steps"]) == (
        "failed", "AssertionError: no row")


def test_report_rows_and_markdown_table():
    """
    Given a Cucumber document with a passed, a failed and a skipped scenario
    When it is rendered as Markdown
    Then the count line and one escaped table row per scenario appear
    """
    rows = report_rows(CUCUMBER)
    assert [r[2] for r in rows] == ["passed", "failed", "skipped"]
    text = render_markdown(rows)
    assert "3 scenarios: 1 passed, 1 failed, 1 skipped." in text
    assert "| Bot | Stop-Loss triggered as expected | passed |  |" in text
    assert "Take-profit \\| fires" in text


def test_main_writes_the_report_and_rejects_bad_input(tmp_path, capsys):
    """
    Given a Cucumber JSON file and a broken one
    When the tool runs on each
    Then the report file is written for the first, and the second exits 2 with a message
    """
    source = tmp_path / "c.json"
    source.write_text(json.dumps(CUCUMBER))
    target = tmp_path / "out" / "report.md"
    assert main([str(source), str(target)]) == 0
    assert "Stop-Loss triggered as expected" in target.read_text()
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert main([str(broken), str(target)]) == 2
    assert main([]) == 2
    assert "cannot read" in capsys.readouterr().err
