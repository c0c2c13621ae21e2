"""The self-check loop stops when it is cancelled, whenever the cancel comes.

Python 3.11's asyncio.wait_for loses a cancel that comes as the call it awaits ends: the loop
then ran on, Health.shutdown waited for it forever, and a stopping worker never exited (seen in a
fresh-clone CI run: the supervisor waited for that worker after SIGTERM until the test gave up).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
import uvloop

from pycoredns.plugins.health import health


class RanOn(Exception):
    """The loop asked again after it was cancelled."""


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_cancel_always_ends_the_check_loop(monkeypatch: pytest.MonkeyPatch, loop: str) -> None:
    cancelled = False

    async def answered_at_once(host: str, port: int) -> None:
        if cancelled:
            raise RanOn
        await asyncio.sleep(0)

    monkeypatch.setattr(health, "CHECK_INTERVAL", 0)
    monkeypatch.setattr(health, "_get", answered_at_once)
    owner = SimpleNamespace(server=SimpleNamespace(host="127.0.0.1", bound_port=8080))

    async def main() -> list[int]:
        nonlocal cancelled
        ran_on = []
        for i in range(300):  # cancels landing at every step of a check
            cancelled = False
            task = asyncio.ensure_future(health.Health._check_loop(owner))  # type: ignore[arg-type]
            for _ in range(i % 7):
                await asyncio.sleep(0)
            cancelled = True
            task.cancel()
            await asyncio.wait({task}, timeout=5.0)  # it ends either way: cancelled, or RanOn
            if not task.cancelled():
                ran_on.append(i)
        return ran_on

    ran_on = uvloop.run(main()) if loop == "uvloop" else asyncio.run(main())
    assert ran_on == []
