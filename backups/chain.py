"""The audit hash chain (audit/chain.py: chain_head(), verify_chain()) as the backups use it: its
head is recorded in every manifest and the whole chain is verified after a restore. A code base
without the audit app's chain (a reduced deployment) records no head (None) and reports the
chain as not checked (None) — never as verified."""

from __future__ import annotations

import importlib
import importlib.util


def _chain():
    if importlib.util.find_spec("audit.chain") is None:
        return None
    return importlib.import_module("audit.chain")


def available() -> bool:
    return _chain() is not None


def chain_head() -> dict | None:
    chain = _chain()
    return None if chain is None else chain.chain_head()


def verify_chain(expected_head: str | None = None) -> tuple[bool | None, str]:
    """(ok, first broken link or ""); ok None when there is no chain to verify. With
    `expected_head` (the hash in a backup manifest) the chain must still contain that link."""
    chain = _chain()
    if chain is None:
        return None, ""
    result = chain.verify_chain(expected_head=expected_head) if expected_head else chain.verify_chain()
    return bool(result.ok), str(result.first_broken or "")
