"""sqlite: answers from a table of records in an SQLite database, re-read when the file changes."""

from pycoredns.plugin import Directive
from pycoredns_sqlite.setup import setup

# After hosts, so in the same place as CoreDNS's other file-backed plugins: behind cache (its
# answers are cached) and in front of forward (where fallthrough sends what it does not know).
DIRECTIVE = Directive("sqlite", setup, after="hosts", once=True)

__all__ = ["DIRECTIVE"]
