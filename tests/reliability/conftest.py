"""Fixtures shared by the reliability tests."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from fallback_kit.engine.batch import Connection, LiveNetwork
from fallback_kit.faces.networks import SandboxNetwork


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Stand in for the runner's networks (sandbox and live): records which was opened,
    sends nothing. A test that needs none to open asserts the list stays empty."""
    opened: list[str] = []

    @asynccontextmanager
    async def fake_connect(self: Any, works: Any, email: Any, **kw: Any) -> Any:
        opened.append(type(self).__name__)

        def refuse(request: httpx.Request) -> httpx.Response:
            raise AssertionError(f"no request may be sent: {request.url}")

        async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
            yield Connection(client=client, mode="custom", meta={"network_mode": "custom"})

    for network_class in (SandboxNetwork, LiveNetwork):
        monkeypatch.setattr(network_class, "connect", fake_connect)
    return opened
