"""The reliability tests are short forms of the commands in benchmarks/reliability/: they import
that package, from the repository root (which a test run does not otherwise have on sys.path)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
