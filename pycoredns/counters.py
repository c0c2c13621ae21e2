"""Counters the engine itself keeps for the whole process (plain integers, read on scrape)."""

from __future__ import annotations

# Queries whose handler raised something other than HandlerError (coredns_panics_total).
panics = 0
