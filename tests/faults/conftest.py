"""Fixtures for the fault suite: the scale (ci or full), a mail server that can fail, the service
environment pointed at it, and the session's report (printed at the end, written as JSON)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults import scale as scales
from tests.faults.report import FaultReport
from tests.faults.sink import FaultyMailServer

REPORT = pytest.StashKey[FaultReport]()


@pytest.fixture(scope="session")
def scale() -> scales.Scale:
    return scales.from_env()


@pytest.fixture(scope="session")
def fault_report(pytestconfig: pytest.Config, scale: scales.Scale) -> Iterator[FaultReport]:
    report = FaultReport(scale)
    pytestconfig.stash[REPORT] = report
    yield report
    report.write()


@pytest.fixture
def mail_server() -> Iterator[FaultyMailServer]:
    sink = FaultyMailServer().start()
    yield sink
    sink.stop()


@pytest.fixture
def fault_env(env: dict[str, str], mail_server: FaultyMailServer) -> dict[str, str]:
    return {**env, "SMTP_PORT": str(mail_server.port)}


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    report = config.stash.get(REPORT, None)
    if report is None:
        return
    terminalreporter.section("Beacon fault suite")
    for line in report.lines():
        terminalreporter.write_line(line)
