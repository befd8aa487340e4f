"""Data management (SPEC §8, issue 7): edit checks, queries, SDV, e-signatures, locks, reason
for change and the audit trail viewer — generic over the CRF registry (core.crf).

Contract for apps that own CRFs:
- wrap every CRF save in ``datamanagement.services.crf_write(instance=..., user=..., reason=...)``
  (lock check, reason for change after first save, hard/soft edit checks, SDV clearing,
  signature breaking); or at least call ``datamanagement.locks.assert_unlocked(instance)``;
- declare edit checks in ``datamanagement/editchecks.py`` (CHECKS, keyed by CRF code);
- read counts with ``datamanagement.selectors.query_counts_for(*, user, instances)``,
  ``casebook_panel(*, user, subject, records)`` and ``form_panel(*, user, instance)``;
- form classes may use ``datamanagement.forms.ReasonForChangeMixin``.
A PostgreSQL trigger installed on every registered CRF table after each migrate refuses writes
to locked data whatever the code path.
"""
