"""The README stays true: it opens with the two commands, its configuration table lists exactly
the variables Settings reads, and the sample roster it posts is the tests' roster."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.deploy.test_compose import variables_settings_reads
from tests.support.roster import roster

ROOT = Path(__file__).resolve().parents[2]


def readme() -> str:
    return (ROOT / "README.md").read_text()


def test_readme_opens_with_compose_up_and_the_ci_test_command():
    first_block = re.search(r"```\w*\n(.*?)```", readme(), re.S)
    assert first_block and readme().index("```") < readme().index("\n## ")
    commands = first_block[1].strip().splitlines()
    assert commands[0] == "docker compose up"
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text()
    assert "-e '.[test]'" in commands[1] and "-e '.[test]'" in ci
    assert commands[1].endswith("python3 -m pytest -q") and "\npython3 -m pytest -q\n" in ci


def test_configuration_table_lists_every_variable_settings_reads():
    table = readme().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set()
    for row in table.splitlines():
        if row.startswith("| `"):
            documented |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1]))
    assert documented == variables_settings_reads()


def test_sample_roster_is_the_test_roster():
    assert json.loads((ROOT / "docs" / "sample-roster.json").read_text()) == roster()
