"""The export tests' seeded study (6 subjects at sites 001 and 002, built through the real
services) and helpers to mint API tokens through api.services."""

import pytest

from tests.exports.conftest import study  # noqa: F401  (fixture)

ARM_TEXTS = ("STENTING", "CONTINUED_MT", "Stenting or angioplasty", "Continued thrombectomy")


@pytest.fixture
def token_for(personas):
    """token_for("statistician") → a fresh 32-hex token of that persona."""
    from api.services import token_create

    def _make(username: str, **kw) -> str:
        _token, raw = token_create(user=personas[username], label=kw.pop("label", f"{username} script"), **kw)
        return raw

    return _make


@pytest.fixture
def api_url(live_server):
    return f"{live_server.url}/api/"
