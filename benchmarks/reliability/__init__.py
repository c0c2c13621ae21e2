"""Reliability measurements: floods, a long mixed soak, an upstream outage, parser fuzzing.

Each is a command (``python -m benchmarks.reliability.NAME``) that starts what it needs on
loopback, runs for a bounded time and prints its figures; the test suite runs short forms of the
same code (tests/reliability/). See README.md in this folder.
"""
