"""The fuzz harness's checks (benchmarks/reliability/fuzz.py) on its seeds and on every crash its
runs found, without atheris: each input must read as a query and as a reply with nothing but the
documented rejections, and keep the invariants. The long run (a million inputs) is the command."""

from __future__ import annotations

import base64

import pytest

from benchmarks.reliability import fuzz

# The crashes found, in the order found (README, "Reliability"): an OPT added after bytes past the
# last record; a truncation cutting a forward pointer's target; the trailing bytes dropped under
# a forward pointer into them; a name pointing into the header; a CNAME without rdata.
CRASHES = [
    base64.b64decode("J48BAAABAAAAAAAAAAEAAAAAAAAHZXhhbXBsZQM="),
    b"\xd5\xf3\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\x07\xc0xample\x03org\x00\x00\x00\x80\x00\xc0M\x85\x80"
    b"\x00\x01\x00\x00\x00\x01\x00\x01\x03wsw\x07example\x03org\x00\x00\x1c\x00\x01\xc0\x0c\x00\x01\x00\x00"
    b"\x00\x00\x00\x00\x00\x05\x00\x01\x00\x00\x00<\x00\x13\x05\x07exa\x00\x02\x00\x01\xcb\x00\x01\x00\x00\x00",
    b"\xe8\xb4\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0M\x01\x00" + b"\xff" * 37
    + b"\x00\x01\x00\x00\x00\x00\x00\x00\xff\tw\x07\nww\n\n\n}H\x85\x83\x00\x01\x00\x00\x00\x01\x00&pin-add\nJ"
    b"\xf6\xf5\xf5\xf5r\x00\x00\x07example\x03or\x04g\x00\x00\x0f\x00\x01",
    b"\xc0M\x85\x00\x00\x01\x00\x00\x83\x00\x01\x00\x03www\x07example\x03org\x00\x00\x1c\x00\x01\xc0\x10\x00"
    b"\x06\x00\x01\x00\x00\x00<\x00!\x02ns\xc0\t\x05admin\xc0\x10\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00"
    b"\x03\x00\x00\x00\x04\x00\x00\x00\x05",
    bytes.fromhex("d4f32a0000070023e7ff00000000000000232323232323232323231b23232300000000000000000000000000"
                  "00000000000000000000000000ff000000000000000000000000000000000004d00000000000000000050000"
                  "01000000000000000004d00000000000000000050000010000000000"),
]


@pytest.fixture(scope="module", autouse=True)
def _loaded() -> None:
    fuzz.load()


@pytest.mark.parametrize("data", fuzz.seeds(), ids=lambda d: f"{len(d)}o")
def test_seeds(data: bytes) -> None:
    fuzz.one_input(data)


@pytest.mark.parametrize("data", CRASHES, ids=[f"crash{i}" for i in range(len(CRASHES))])
def test_crashes_found_are_fixed(data: bytes) -> None:
    fuzz.one_input(data)
