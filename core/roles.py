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
    # Central adjudication (adjudication app): readers outside the sites, blinded everywhere.
    CORE_LAB_READER = "core_lab_reader", _("Core-lab reader")
    ADJUDICATOR = "adjudicator", _("Adjudicator (clinical events committee)")
    MRS_RATER = "mrs_rater", _("Central mRS rater")
    STEERING = "steering", _("Steering committee member")


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
    UPLOAD_MATERIAL = "upload_material", _("Upload imaging and recordings for central review")
    READ_IMAGING = "read_imaging", _("Core-lab imaging reads")
    ADJUDICATE_EVENTS = "adjudicate_events", _("Adjudicate haemorrhages (sICH)")
    RATE_MRS = "rate_mrs", _("Central mRS rating")
    ADJUDICATION_STATUS = "adjudication_status", _("Adjudication status and results")
    AGREEMENT = "agreement", _("Reader agreement statistics")
    DSMB_OPEN = "dsmb_open", _("DSMB open (pooled) report")


A = Action
SITE_STAFF = {A.SCREEN, A.ENTER_CRF, A.VIEW_CRF, A.RANDOMIZE, A.ANSWER_QUERY, A.SCREENING_LOG,
              A.BLINDING_BREACH, A.REPORTS, A.UPLOAD_MATERIAL}

PERMISSIONS: dict[str, frozenset[str]] = {
    Role.COORDINATOR: frozenset(SITE_STAFF),
    Role.INVESTIGATOR: frozenset(SITE_STAFF | {A.CONFIRM_ELIGIBILITY, A.SIGN}),
    # The assessor sees subject numbers and day-90 windows and enters the day-90 form only.
    # The assessor also uploads the recording of the day-90 interview for central rating.
    Role.ASSESSOR: frozenset({A.ENTER_DAY90, A.ANSWER_QUERY, A.BLINDING_BREACH, A.UPLOAD_MATERIAL}),
    Role.MONITOR: frozenset({A.VIEW_CRF, A.RAISE_QUERY, A.SDV, A.SCREENING_LOG, A.REPORTS,
                             A.EXPORT_BLINDED, A.AUDIT_TRAIL, A.BLINDING_BREACH}),
    Role.DATA_MANAGER: frozenset({A.VIEW_CRF, A.RAISE_QUERY, A.LOCK, A.EXPORT_BLINDED,
                                  A.SCREENING_LOG, A.REPORTS, A.AUDIT_TRAIL, A.BLINDING_BREACH,
                                  A.ADJUDICATION_STATUS}),
    Role.STATISTICIAN: frozenset({A.VIEW_CRF, A.ALLOCATION_LIST, A.EXPORT_BLINDED,
                                  A.EXPORT_UNBLINDED, A.DSMB_REPORT, A.SCREENING_LOG,
                                  A.REPORTS, A.BLINDING_BREACH, A.ADJUDICATION_STATUS,
                                  A.AGREEMENT, A.DSMB_OPEN}),
    Role.ADMIN: frozenset({A.ADMINISTER, A.AUDIT_TRAIL, A.EXPORT_BLINDED, A.REPORTS,
                           A.SCREENING_LOG, A.BLINDING_BREACH}),
    # Central readers read the material of other sites' cases only (adjudication.selectors);
    # they never enter or read the site's CRFs.
    Role.CORE_LAB_READER: frozenset({A.READ_IMAGING, A.BLINDING_BREACH}),
    Role.ADJUDICATOR: frozenset({A.ADJUDICATE_EVENTS, A.BLINDING_BREACH}),
    Role.MRS_RATER: frozenset({A.RATE_MRS, A.BLINDING_BREACH}),
    # The steering committee follows the trial pooled: the open DSMB report only.
    Role.STEERING: frozenset({A.DSMB_OPEN}),
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
    Role.CORE_LAB_READER: False,
    Role.ADJUDICATOR: False,
    Role.MRS_RATER: False,
    Role.STEERING: False,
}

# Roles whose holder is blinded at every site, whatever other memberships the person has
# (a treating radiologist who also reads for the core lab must never learn any arm).
BLINDED_EVERYWHERE = frozenset({Role.ASSESSOR, Role.CORE_LAB_READER, Role.ADJUDICATOR,
                                Role.MRS_RATER, Role.STEERING})

# Roles that must use two-factor authentication (TOTP) on every session.
TWO_FACTOR_ROLES = frozenset({Role.ADMIN, Role.DATA_MANAGER, Role.STATISTICIAN})

# Roles whose memberships span all sites by definition.
ALL_SITE_ROLES = frozenset({Role.DATA_MANAGER, Role.STATISTICIAN, Role.ADMIN, Role.CORE_LAB_READER,
                            Role.ADJUDICATOR, Role.MRS_RATER, Role.STEERING})
