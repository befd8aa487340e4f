"""Blinding holds on the error paths too (issue 12: "error messages" are outbound text): a
blinded person who POSTs to every URL of the project — empty, malformed and with values for
arm-revealing fields (the procedure CRF's stent fields, the randomization's arm) — gets refusals
and validation messages that never name the arm, and never a server error. The unblinded
coordinator's run of the same requests shows that the sweep reaches forms whose messages would
name those fields."""

from __future__ import annotations

import pytest
from django.test import Client

from core.roles import Role
from tests.conftest import make_user
from tests.security.conftest import concrete_urls
from tests.security.test_sweep import ARM_WORDS, SKIP, _arm_words_in_labels, _bodies

pytestmark = pytest.mark.django_db

# Bodies a careless form would echo back: arm-revealing fields and values, junk numbers in the
# hidden version/lock fields, a NUL byte.
PAYLOADS = [
    {},
    {"version": "abc", "lock": "x", "reason": "typo", "stent_type": "balloon_expandable",
     "stent_diameter_mm": "3.5", "arm": "STENTING", "field_name": "stent_type",
     "text": "Is the stent diameter right?", "q": "stent"},
    {"version": "1", "reason": "\x00", "field_name": "stent_diameter_mm", "value": "99"},
]


def _mixed(sites):
    """Site staff at 001 and blinded outcome assessor at 002: blinded everywhere."""
    user = make_user("mixed-err", Role.COORDINATOR, sites["001"])
    make_user("mixed-err", Role.ASSESSOR, sites["002"])
    client = Client()
    client.force_login(user)
    return client


def _sweep(client, study):
    urls = [u for group in concrete_urls(study).values() for u in group
            if not u.startswith(SKIP) and not u.startswith("/admin/")]
    client.raise_request_exception = False
    seen = {}
    for url in urls:
        for i, data in enumerate(PAYLOADS):
            response = client.post(url, data)
            seen[(url, i)] = (response.status_code, _bodies(response))
    return seen


@pytest.mark.parametrize("who", ["assessor001", "datamanager", "mixed"])
def test_refusals_and_validation_messages_to_blinded_users_never_name_the_arm(who, study, sites, client_for):
    client = _mixed(sites) if who == "mixed" else client_for(who)
    seen = _sweep(client, study)
    labels = _arm_words_in_labels()
    errors, leaks = [], []
    for (url, i), (status, bodies) in seen.items():
        if status >= 500:
            errors.append(f"POST {url} payload {i} → {status}")
        for body in bodies:
            # what the person typed may be echoed back ("stent_type is not a data field of …"):
            # that tells him nothing; labels, choices and other texts about the arm would.
            # (messages are shown on the next page, so any payload's values)
            for value in {v for payload in PAYLOADS for v in payload.values()}:
                body = body.replace(value, "")
            m = ARM_WORDS.search(body)
            if m:
                leaks.append(f"POST {url} payload {i}: {body[max(0, m.start() - 80):m.end() + 80]!r}")
            leaks += [f"POST {url} payload {i}: {label!r}" for label in labels if label in body]
    assert not errors, "\n".join(errors)
    assert not leaks, f"{who} learns the arm from an error:\n" + "\n".join(leaks[:20])
    # the sweep was not only refusals: some POSTs were answered by a page (a form with its
    # validation messages, a redirect after a harmless action)
    assert any(status in (200, 302) for status, _ in seen.values())


def test_the_error_sweep_can_fail_an_unblinded_coordinator_is_answered_with_stent_fields(study, client_for):
    seen = _sweep(client_for("coord001"), study)
    assert any(ARM_WORDS.search(body) for status, bodies in seen.values() for body in bodies)
