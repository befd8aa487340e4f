"""The seven roles of SPEC §2, what each may do, and the blinding matrix — in one place.

Every view, export, API call and task asks these tables (through core.access) rather than
testing role names itself, so the access rules can be read and reviewed against the protocol.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    COORDINATOR = "coordinator", _("Site coordinator")
    INVESTIGATOR = "investigator", _("Site investigator")
    ASSESSOR = "assessor", _("Blinded outcome assessor")
    MONITOR = "monitor", _("Monitor")
    DATA_MANAGER = "data_manager", _("Data manager")
    STATISTICIAN = "statistician", _("Unblinded statistician")
    ADMIN = "admin", _("Administrator")


class Action(models.TextChoices):
    SCREEN = "screen", _("Screen patients")
    CONFIRM_ELIGIBILITY = "confirm_eligibility", _("Confirm eligibility")
    RANDOMIZE = "randomize", _("Randomize")
    ENTER_CRF = "enter_crf", _("Enter and edit CRFs")
    ENTER_DAY90 = "enter_day90", _("Enter the day-90 outcome")
    VIEW_CRF = "view_crf", _("Read CRFs")
    SIGN = "sign", _("E-sign CRFs")
    ANSWER_QUERY = "answer_query", _("Answer queries")
    RAISE_QUERY = "raise_query", _("Raise and close queries")
    SDV = "sdv", _("Mark source data verified")
    LOCK = "lock", _("Lock and unlock data")
    EXPORT_BLINDED = "export_blinded", _("Blinded exports")
    EXPORT_UNBLINDED = "export_unblinded", _("Unblinded exports")
    ALLOCATION_LIST = "allocation_list", _("Read and manage the allocation list")
    DSMB_REPORT = "dsmb_report", _("DSMB report")
    SCREENING_LOG = "screening_log", _("Screening log")
    REPORTS = "reports", _("Reports")
    AUDIT_TRAIL = "audit_trail", _("Audit trail viewer")
    ADMINISTER = "administer", _("Users, sites and roles")
    BLINDING_BREACH = "blinding_breach", _("Report a blinding breach")


A = Action
SITE_STAFF = {A.SCREEN, A.ENTER_CRF, A.VIEW_CRF, A.RANDOMIZE, A.ANSWER_QUERY, A.SCREENING_LOG,
              A.BLINDING_BREACH, A.REPORTS}

PERMISSIONS: dict[str, frozenset[str]] = {
    Role.COORDINATOR: frozenset(SITE_STAFF),
    Role.INVESTIGATOR: frozenset(SITE_STAFF | {A.CONFIRM_ELIGIBILITY, A.SIGN}),
    # The assessor sees subject numbers and day-90 windows and enters the day-90 form only.
    Role.ASSESSOR: frozenset({A.ENTER_DAY90, A.ANSWER_QUERY, A.BLINDING_BREACH}),
    Role.MONITOR: frozenset({A.VIEW_CRF, A.RAISE_QUERY, A.SDV, A.SCREENING_LOG, A.REPORTS,
                             A.EXPORT_BLINDED, A.AUDIT_TRAIL, A.BLINDING_BREACH}),
    Role.DATA_MANAGER: frozenset({A.VIEW_CRF, A.RAISE_QUERY, A.LOCK, A.EXPORT_BLINDED,
                                  A.SCREENING_LOG, A.REPORTS, A.AUDIT_TRAIL, A.BLINDING_BREACH}),
    Role.STATISTICIAN: frozenset({A.VIEW_CRF, A.ALLOCATION_LIST, A.EXPORT_BLINDED,
                                  A.EXPORT_UNBLINDED, A.DSMB_REPORT, A.SCREENING_LOG,
                                  A.REPORTS, A.BLINDING_BREACH}),
    Role.ADMIN: frozenset({A.ADMINISTER, A.AUDIT_TRAIL, A.EXPORT_BLINDED, A.REPORTS,
                           A.SCREENING_LOG, A.BLINDING_BREACH}),
}

# Who may learn the treatment arm (SPEC §2, §5). The treating team and the monitors know it;
# the outcome assessor must never; data managers and administrators do not need it and so do
# not get it. A person who holds the assessor role anywhere is blinded everywhere.
SEES_ARM: dict[str, bool] = {
    Role.COORDINATOR: True,
    Role.INVESTIGATOR: True,
    Role.MONITOR: True,
    Role.STATISTICIAN: True,
    Role.ASSESSOR: False,
    Role.DATA_MANAGER: False,
    Role.ADMIN: False,
}

# Roles that must use two-factor authentication (TOTP) on every session.
TWO_FACTOR_ROLES = frozenset({Role.ADMIN, Role.DATA_MANAGER, Role.STATISTICIAN})

# Roles whose memberships span all sites by definition.
ALL_SITE_ROLES = frozenset({Role.DATA_MANAGER, Role.STATISTICIAN, Role.ADMIN})
