"""The ``database`` fixture: a folder of real SQLite files for each test."""

from __future__ import annotations

from pathlib import Path

import pytest
from databases import Databases


@pytest.fixture
def database(tmp_path: Path) -> Databases:
    return Databases(tmp_path)
