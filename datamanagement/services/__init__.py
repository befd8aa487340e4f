"""Writes of data management, one module per concept:

- `guard`: the CRF write guard every form save goes through (`crf_write`, `validate_crf`);
- `queries`: raising, answering, closing and re-opening queries;
- `corrections`: correcting a value from a query (`crf_field_correct`);
- `sdv`: source data verification;
- `signatures`: electronic signatures;
- `locking`: locks of a form, a subject or the database.

Contract for the apps that own CRFs (eligibility, followup): wrap the save in `crf_write`:

    with crf_write(instance=form, user=user, reason=reason, expected_version=version):
        form.version += 1          # your optimistic-locking bump, if you do it here
        form.save()
"""

# The names below load their module on first use (PEP 562): importing one module of this
# package (guard imports sdv, signatures, queries, context) then runs this file without
# importing guard back — no import cycle inside the package.
_HOME = {
    "own_audit_context": "context",
    "crf_field_correct": "corrections", "crf_values_update": "corrections",
    "CrfWrite": "guard", "check_context": "guard", "crf_write": "guard", "validate_crf": "guard",
    "lock_database": "locking", "lock_form": "locking", "lock_release": "locking", "lock_subject": "locking",
    "query_answer": "queries", "query_close": "queries", "query_comment": "queries", "query_open": "queries",
    "query_reopen": "queries",
    "sdv_mark": "sdv",
    "signature_content": "signatures", "signature_meaning": "signatures", "signature_sign": "signatures",
}

__all__ = sorted(_HOME)


def __getattr__(name: str):
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # once: later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
