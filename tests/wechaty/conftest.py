"""Fixtures for the Wechaty tests: the mock gateway process and a connected channel."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mock_wechat import Gateway, ensure_node_modules, unavailable


@pytest.fixture(scope="session")
def gateway_dir() -> Path:
    """tests/wechaty_gateway with node_modules (skips, or fails under REQUIRE_ALL, without node)."""
    if importlib.util.find_spec("wechaty_puppet_service") is None:
        unavailable("the python-wechaty packages are not installed (pip install .[wechaty])")
    return ensure_node_modules()


@pytest.fixture
async def gateway(gateway_dir: Path, tmp_path: Path) -> AsyncIterator[Gateway]:
    """A plain-gRPC mock gateway on loopback, killed after the test."""
    gw = Gateway(tmp_path / "gateway.log", tls=False)
    await gw.start()
    yield gw
    await gw.close()


@pytest.fixture
async def tls_gateway(gateway_dir: Path, tmp_path: Path) -> AsyncIterator[Gateway]:
    """A mock gateway serving TLS with wechaty-puppet-service's default certificate."""
    gw = Gateway(tmp_path / "gateway-tls.log", tls=True)
    await gw.start()
    yield gw
    await gw.close()
