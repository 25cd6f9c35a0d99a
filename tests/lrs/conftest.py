"""Ralph, a real xAPI Learning Record Store, for the tests that talk to one (tests/lrs/ralph.py).

The tests skip when Ralph's virtualenv is missing; ``make test`` installs it (lrs-install).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lrs.ralph import RalphServer, ralph_available

NOT_INSTALLED = "Ralph is not installed in .venv-lrs: run `make lrs-install` (make test does)"


@pytest.fixture(scope="session")
def ralph(tmp_path_factory) -> Iterator[RalphServer]:
    """One Ralph for the session, its store in a temporary folder. The tests share it: each
    posts statements of a learner of its own and selects them with ``agent``."""
    if not ralph_available():
        pytest.skip(NOT_INSTALLED)
    server = RalphServer(tmp_path_factory.mktemp("ralph"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def ralph_root(tmp_path) -> Path:
    """A folder for a test's own RalphServer (one it stops and starts), skipping as ``ralph``."""
    if not ralph_available():
        pytest.skip(NOT_INSTALLED)
    return tmp_path
