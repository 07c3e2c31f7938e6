"""Signing in to the dashboard from a test client."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    m = _CSRF.search(html)
    assert m, "no CSRF token on the page"
    return m.group(1)


async def page_csrf(client: TestClient, path: str) -> str:
    """The CSRF token of a page's forms."""
    r = await client.get(path)
    assert r.status == 200, await r.text()
    return csrf_of(await r.text())


async def sign_in(client: TestClient, login: str, password: str = "demo") -> int:
    """Sign in through the form; the response status (302 on success, not followed)."""
    token = await page_csrf(client, "/login")
    r = await client.post(
        "/login",
        data={"login": login, "password": password, "_csrf": token},
        allow_redirects=False,
    )
    return r.status
