"""Bad input on every CRF form (SPEC §8, STYLE): letters in numbers, huge numbers, dates in
the year 9999 and empty required fields are refused with a message naming the field — never a
500, never saved."""

from __future__ import annotations

import lxml.html
import pytest

pytestmark = pytest.mark.django_db


def _form_fields(html: str):
    """The POST form of the page: its values and the names of its number / date / required
    inputs, as the browser would submit them."""
    doc = lxml.html.fromstring(html)
    forms = [f for f in doc.forms if (f.method or "").upper() == "POST" and len(f.inputs) > 5]
    assert forms, "no CRF form on the page"
    form = max(forms, key=lambda f: len(f.inputs))
    values = {}
    for k, v in form.form_values():
        values.setdefault(k, v)
    numbers, dates, required = [], [], []
    for el in form.inputs:
        # An otherwise complete answer, so that only the garbage is wrong: empty choices get
        # their first option, empty required texts a word.
        name = el.get("name")
        if name and el.tag == "select" and not values.get(name):
            options = [o for o in el.value_options if o]
            if options:
                values[name] = options[0]
        elif name and el.tag == "textarea" or (el.get("type") or "text") == "text":
            if name and el.get("required") is not None and not (values.get(name) or "").strip():
                values[name] = "garbage test"
        if not name or name.startswith(("csrf", "form-", "passes-")) or "-TOTAL" in name:
            continue
        kind = (el.get("type") or "").lower()
        if el.get("readonly") is not None or el.get("disabled") is not None or kind == "hidden":
            continue
        if kind == "number":
            numbers.append(name)
        elif kind in ("date", "datetime-local"):
            dates.append((name, kind))
        if el.get("required") is not None and kind not in ("checkbox", "radio"):
            required.append(name)
    return values, numbers, dates, required


def _garbage_payloads(values, numbers, dates, required):
    yield "letters in numbers", numbers, {**values, **{n: "abc" for n in numbers}}
    yield "huge numbers", numbers, {**values, **{n: "9" * 25 for n in numbers}}
    yield "year 9999", [n for n, _ in dates], {
        **values, **{n: "9999-12-31" if kind == "date" else "9999-12-31T23:59" for n, kind in dates}}
    yield "empty required fields", required, {**values, **{n: "" for n in required}}


def _crf_pages(study):
    s1 = study["subjects"]["001-0"].number
    pages = [("coord001", "/screening/new/"),
             ("coord001", f"/screening/{study['screenings']['001-open'].pk}/edit/")]
    for code in ("V1", "V2", "V3", "V4", "AE", "DEATH", "DEVIATION", "EXIT"):
        pages.append(("coord001", f"/subjects/{s1}/form/{code}/"))
    pages.append(("assessor001", f"/subjects/{study['subjects']['001-1'].number}/form/V5/"))
    return pages


def _named_in_errors(response, field: str) -> bool:
    """The re-rendered form carries an error for the field (shown beside it)."""
    for key in ("form", "formset"):
        form = (response.context or {}).get(key)
        if form is not None and hasattr(form, "errors") and isinstance(form.errors, dict):
            if field in form.errors:
                return True
    body = response.content.decode(errors="replace")
    return f'id="error_1_id_{field}"' in body or f'name="{field}" class="form-control is-invalid' in body \
        or (f'name="{field}"' in body and "is-invalid" in body.split(f'name="{field}"')[1][:200])


def test_every_crf_form_refuses_garbage_naming_the_field(study, client_for):
    problems = []
    for who, url in _crf_pages(study):
        client = client_for(who)
        client.raise_request_exception = False
        page = client.get(url)
        assert page.status_code == 200, f"{who} cannot open {url}: {page.status_code}"
        values, numbers, dates, required = _form_fields(page.content.decode())
        for kind, fields, payload in _garbage_payloads(values, numbers, dates, required):
            if not fields:
                continue
            response = client.post(url, payload)
            if response.status_code >= 500:
                problems.append(f"{url} {kind}: {response.status_code}")
                continue
            if response.status_code in (301, 302):
                problems.append(f"{url} {kind}: saved (redirect to {response['Location']}) {fields}")
                continue
            unnamed = [f for f in fields if not _named_in_errors(response, f)]
            if unnamed:
                problems.append(f"{url} {kind}: no error beside {unnamed}")
    assert not problems, "\n".join(problems)


GARBAGE = ["abc", "9" * 25, "9999-12-31T23:59", "", "-1", "<script>alert(1)</script>", "1e999", "\x00"]
EXTRA_KEYS = ["ids", "id", "reason", "text", "password", "value", "field", "scope", "visit", "format",
              "site", "status", "active", "method", "minimisation_p", "csv", "seed", "formats", "blinded",
              "forms", "site_ids", "action", "next", "version", "form_version"]


def _post_targets(html: str, url: str):
    """(action URL, field names) of every POST form on the page."""
    doc = lxml.html.fromstring(html)
    for form in doc.forms:
        if (form.method or "").upper() != "POST":
            continue
        action = form.get("action") or url
        if not action.startswith("/"):
            action = url
        yield action, [el.get("name") for el in form.inputs if el.get("name")]


PERSONA_ORDER = ["coord001", "inv001", "assessor001", "monitor", "datamanager", "statistician"]


def test_garbage_posted_anywhere_is_never_a_server_error(study, client_for):
    """Every POST form of the project (and every POST-only URL) gets garbage in every field
    it shows plus the usual extra keys, as each persona that may use it: never a 500."""
    errors = []
    for who in PERSONA_ORDER:
        errors += _post_garbage_as(who, study, client_for)
    assert not errors, "\n".join(errors)


def _post_garbage_as(who, study, client_for) -> list[str]:
    from tests.security.conftest import concrete_urls

    client = client_for(who)
    client.raise_request_exception = False
    errors, posted = [], 0
    for name, group in concrete_urls(study).items():
        if name.startswith("admin:"):
            continue  # Django's own admin forms (tested upstream); the admin persona has its sweep
        for url in group[:2]:
            response = client.get(url)
            targets = []
            if response.status_code == 405:
                targets = [(url, [])]
            elif response.status_code == 200 and "html" in response.get("Content-Type", ""):
                targets = list(_post_targets(response.content.decode(errors="replace"), url))
            for i, (action, fields) in enumerate(targets):
                if action.startswith(("/account/logout/", "/i18n/")):
                    continue
                # Each persona rotates the garbage differently, so across the personas every
                # field gets several kinds of garbage.
                payload = {f: GARBAGE[(i + j + 3 * PERSONA_ORDER.index(who)) % len(GARBAGE)] for j, f in enumerate(fields + EXTRA_KEYS)
                           if not f.startswith("csrf")}
                result = client.post(action, payload)
                posted += 1
                if result.status_code >= 500:
                    errors.append(f"{who} POST {action} (from {url}) → {result.status_code}")
    assert posted > 3, f"{who} found nothing to post"
    return errors
