import pytest
from django.db import IntegrityError, InternalError, connection, transaction
from django.http import Http404

from core import access
from core.models import Site, Subject
from core.roles import Action

pytestmark = pytest.mark.django_db


def _subject(site, number):
    from django.utils import timezone

    return Subject.objects.create(number=number, site=site, randomized_at=timezone.now())


def test_site_scope_hides_other_sites_objects(personas, sites):
    s1 = _subject(sites["001"], "001-0001")
    _subject(sites["002"], "002-0001")
    coord002 = personas["coord002"]
    visible = access.scope(Subject.objects.all(), coord002, Action.VIEW_CRF)
    assert [s.number for s in visible] == ["002-0001"]
    with pytest.raises(Http404):
        access.object_site_or_404(coord002, Action.VIEW_CRF, s1.site_id)
    # all-site roles see every site
    assert access.scope(Subject.objects.all(), personas["datamanager"], Action.VIEW_CRF).count() == 2


def test_blinding_matrix(personas):
    assert access.sees_arm(personas["coord001"])
    assert access.sees_arm(personas["monitor"])
    assert access.sees_arm(personas["statistician"])
    assert not access.sees_arm(personas["assessor001"])
    assert not access.sees_arm(personas["datamanager"])
    assert not access.sees_arm(personas["admin"])


def test_an_assessor_anywhere_is_blinded_everywhere(personas, sites):
    from core.roles import Role
    from tests.conftest import make_user

    both = make_user("both", Role.COORDINATOR, sites["002"])
    make_user("both", Role.ASSESSOR, sites["001"])
    access.forget_memberships(both)
    assert not access.sees_arm(both)
    assert not access.sees_arm_at(both, sites["002"])


def test_audited_change_records_user_and_reason(personas, sites):
    import pghistory

    from audit.services import change_reason

    site = sites["001"]
    with pghistory.context(user=personas["admin"].pk, username="admin"), change_reason("Target revised by steering committee"):
        site.enrollment_target = 130
        site.save()
    event = site.events.order_by("-pgh_id").first() if hasattr(site, "events") else None
    from core.models import Site as SiteModel

    event_model = pghistory.models.Events
    rows = list(event_model.objects.tracks(site).order_by("pgh_created_at"))
    last = rows[-1]
    assert last.pgh_diff == {"enrollment_target": [120, 130]}
    assert last.pgh_context["reason"] == "Target revised by steering committee"
    assert last.pgh_context["user"] == personas["admin"].pk
    assert event is None or event.enrollment_target == 130
    assert SiteModel.objects.get(pk=site.pk).enrollment_target == 130


@pytest.mark.parametrize("sql", ["UPDATE {t} SET pgh_label = 'tampered'", "DELETE FROM {t}"])
def test_audit_event_tables_refuse_update_and_delete(sites, sql):
    from core.models import Site as SiteModel

    event_table = SiteModel.pgh_event_models["insert"]._meta.db_table if hasattr(SiteModel, "pgh_event_models") else "core_siteevent"
    with pytest.raises((InternalError, IntegrityError, Exception)) as excinfo:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql.format(t=event_table))
    assert "append_only" in str(excinfo.value) or "Cannot" in str(excinfo.value) or "protect" in str(excinfo.value).lower()


@pytest.mark.parametrize("sql", ["UPDATE audit_auditevent SET summary = 'tampered'", "DELETE FROM audit_auditevent"])
def test_action_audit_table_refuses_update_and_delete(personas, sql):
    from audit.models import AuditEvent

    assert AuditEvent.objects.exists()  # membership grants were recorded
    with pytest.raises(Exception) as excinfo:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert "append_only" in str(excinfo.value)


def test_pghistory_context_cannot_be_deleted(personas, sites):
    import pghistory

    with pghistory.context(user=personas["admin"].pk, reason="r"):
        sites["001"].name = "Renamed"
        sites["001"].save()
    with pytest.raises(Exception) as excinfo:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM pghistory_context")
    assert "cannot be deleted" in str(excinfo.value)


def test_clinical_rows_cannot_be_hard_deleted(sites):
    subject = _subject(sites["001"], "001-0009")
    with pytest.raises(Exception) as excinfo:
        with transaction.atomic():
            subject.delete()
    assert "no_hard_delete" in str(excinfo.value)
    assert Site.objects.filter(pk=sites["001"].pk).exists()


def test_membership_changes_are_audited(personas):
    from audit.models import AuditAction, AuditEvent

    events = AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_CHANGED)
    assert events.filter(summary__contains="coord001").exists()
