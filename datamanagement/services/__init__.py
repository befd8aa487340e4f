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

from datamanagement.services.context import own_audit_context
from datamanagement.services.corrections import crf_field_correct, crf_values_update
from datamanagement.services.guard import CrfWrite, check_context, crf_write, validate_crf
from datamanagement.services.locking import lock_database, lock_form, lock_release, lock_subject
from datamanagement.services.queries import (
    query_answer,
    query_close,
    query_comment,
    query_open,
    query_reopen,
)
from datamanagement.services.sdv import sdv_mark
from datamanagement.services.signatures import signature_content, signature_meaning, signature_sign

__all__ = [
    "CrfWrite", "check_context", "crf_field_correct", "crf_values_update", "crf_write", "lock_database", "lock_form",
    "lock_release", "lock_subject", "own_audit_context", "query_answer", "query_close", "query_comment",
    "query_open", "query_reopen", "sdv_mark", "signature_content", "signature_meaning", "signature_sign",
    "validate_crf",
]
