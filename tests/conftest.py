"""Fixtures shared by the whole suite (the kit's own come from its pytest plugin)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def node_cache_image() -> str:
    """The node-cache image built from this checkout (scripts/build-image.sh; reused while the
    sources are unchanged). Skips, saying so, where podman cannot run (not root)."""
    from tests.deploy.image import built_image

    return built_image()
