"""The follow-up CRFs through the web: access, blinding, hard checks, optimistic locking."""

import zoneinfo
from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import SubjectStatus
from followup import services
from followup.models import Day90, Death, Reminder, ReminderState, Visit24h, Visit48h

pytestmark = pytest.mark.django_db
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def nihss_post(prefix="nihss", value=1, **extra):
    from followup import nihss

    data = {nihss.field_name(prefix, item): str(min(value, item.max)) for item in nihss.ITEMS}
    data.update(extra)
    return data


def url(subject, code):
    return f"/subjects/{subject.number}/form/{code}/"


@pytest.fixture
def subject(make_subject):
    return make_subject(timezone.now() - timedelta(days=2))


def test_assessor_opens_day90_and_no_other_crf_of_the_subject(client_for, subject):
    client = client_for("assessor001")
    assert client.get(url(subject, "V5")).status_code == 200
    for code in ("V1", "V2", "V3", "V4", "AE", "DEATH", "DEVIATION", "EXIT"):
        assert client.get(url(subject, code)).status_code == 403, code
        assert client.post(url(subject, code), {}).status_code == 403, code
    page = client.get(f"/subjects/{subject.number}/").content.decode()
    assert 'data-visit="V5"' in page
    for code in ("V1", "V2", "V3", "V4"):
        assert f'data-visit="{code}"' not in page
    assert 'data-testid="events"' not in page and 'data-testid="arm"' not in page


def test_assessor_enters_day90_and_is_recorded_as_assessor(client_for, personas, make_subject):
    subject = make_subject(timezone.now() - timedelta(days=90))
    client = client_for("assessor001")
    day = timezone.localtime(subject.randomized_at, SHANGHAI).date() + timedelta(days=90)
    response = client.post(url(subject, "V5"), {
        "assessed_on": day.isoformat(), "mode": "phone", "respondent": "proxy", "blinded_attested": "on",
        "mrs": "2", "eq5d_mobility": "2", "eq5d_self_care": "1", "eq5d_usual_activities": "2",
        "eq5d_pain": "1", "eq5d_anxiety": "1", "eq5d_vas": "70"})
    assert response.status_code == 302, response.content.decode()[:3000]
    row = Day90.objects.get(subject=subject)
    assert (row.mrs, row.assessor, row.study_day, row.outside_window) == (2, personas["assessor001"], 90, False)


def test_site_staff_cannot_enter_day90(client_for, subject):
    client = client_for("coord001")
    assert client.get(url(subject, "V5")).status_code == 200  # read-only view
    assert client.post(url(subject, "V5"), {"mrs": "1", "blinded_attested": "on"}).status_code == 403
    assert not Day90.objects.filter(subject=subject).exists()


@pytest.mark.parametrize("day,outside", [(82, True), (83, False), (97, False), (98, True)])
def test_day90_outside_day_83_to_97_is_saved_with_a_warning(client_for, make_subject, day, outside):
    subject = make_subject(timezone.now() - timedelta(days=100))
    d = timezone.localtime(subject.randomized_at, SHANGHAI).date() + timedelta(days=day)
    response = client_for("assessor001").post(url(subject, "V5"), {
        "assessed_on": d.isoformat(), "mode": "video", "respondent": "patient", "blinded_attested": "on",
        "mrs": "1"}, follow=True)
    row = Day90.objects.get(subject=subject)
    assert row.outside_window is outside and row.study_day == day
    assert ("outside day 83–97" in response.content.decode()) is outside


def test_day90_without_blinding_attestation_or_breach_reference_is_refused(client_for, subject):
    response = client_for("assessor001").post(url(subject, "V5"), {"mrs": "3", "mode": "phone"})
    assert response.status_code == 200
    assert "Attest that you remained blinded" in response.content.decode()
    assert not Day90.objects.filter(subject=subject).exists()


def test_other_site_cannot_see_the_subject(client_for, subject):
    client = client_for("coord002")
    assert client.get(f"/subjects/{subject.number}/").status_code == 404
    assert client.get(url(subject, "V2")).status_code == 404
    assert subject.number not in client.get("/subjects/").content.decode()
    assert subject.number in client_for("coord001").get("/subjects/").content.decode()


def test_nihss_item_out_of_range_is_refused_naming_the_field_keeping_the_rest(client_for, subject):
    data = nihss_post(value=1, nihss_i1a="7", assessed_at="")
    data["nihss_i9"] = "3"
    response = client_for("coord001").post(url(subject, "V2"), data)
    page = response.content.decode()
    assert response.status_code == 200
    assert not Visit24h.objects.filter(subject=subject).exists()
    assert "less than or equal to 3" in page and 'id="id_nihss_i1a"' in page
    assert 'name="nihss_i9" value="3"' in page  # the rest of the input is kept


def test_nihss_service_hard_check_names_the_item(personas, subject):
    from followup.exceptions import HardCheckFailed

    with pytest.raises(HardCheckFailed) as exc:
        services.visit24h_save(subject=subject, user=personas["coord001"],
                               data={"nihss_i5a": 5}, version=None)
    assert "nihss_i5a" in exc.value.errors and "0–4 or UN" in exc.value.errors["nihss_i5a"]


def test_nihss_total_is_derived_with_un_counting_zero(personas, subject):
    data = {k: int(v) for k, v in nihss_post(value=1).items()}
    data.update(nihss_i5a=None, nihss_i5a_un=True, nihss_un_explanation="left arm amputation")
    row = services.visit24h_save(subject=subject, user=personas["coord001"], data=data, version=None)
    assert row.nihss_total == 14


def test_death_before_randomization_is_refused_naming_the_field(client_for, subject):
    before = timezone.localtime(subject.randomized_at, SHANGHAI).date() - timedelta(days=1)
    response = client_for("coord001").post(url(subject, "DEATH"), {
        "died_on": before.isoformat(), "cause": "ich", "cause_text": "massive PH2"})
    page = response.content.decode()
    assert response.status_code == 200 and "must not be before the day of randomization" in page
    assert "massive PH2" in page
    assert not Death.objects.filter(subject=subject).exists()


def test_death_sets_day90_mrs_6_subject_dead_and_cancels_reminders(client_for, subject):
    from followup.reminders import send_due_reminders

    send_due_reminders()  # schedules (and may send) this subject's reminders
    assert Reminder.objects.filter(subject=subject, state=ReminderState.SCHEDULED).exists()
    today = timezone.localtime(timezone.now(), SHANGHAI).date()
    response = client_for("coord001").post(url(subject, "DEATH"), {"died_on": today.isoformat(), "cause": "ich"})
    assert response.status_code == 302
    subject.refresh_from_db()
    assert subject.status == SubjectStatus.DEAD
    day90 = Day90.objects.get(subject=subject)
    assert (day90.mrs, day90.death_on, day90.source) == (6, today, "death")
    assert not Reminder.objects.filter(subject=subject, state=ReminderState.SCHEDULED).exists()


def test_second_concurrent_save_is_refused_and_both_versions_are_shown(client_for, subject):
    alice, bob = client_for("coord001"), client_for("inv001")
    first = alice.post(url(subject, "V2"), nihss_post(value=0))
    assert first.status_code == 302
    # Both open version 1 ...
    assert 'name="form_version" value="1"' in alice.get(url(subject, "V2")).content.decode()
    assert 'name="form_version" value="1"' in bob.get(url(subject, "V2")).content.decode()
    # ... Alice saves first (version 2) ...
    ok = alice.post(url(subject, "V2"), nihss_post(value=1, form_version="1", reason="re-scored"))
    assert ok.status_code == 302
    # ... Bob's save, made on version 1, is refused and shows both versions.
    refused = bob.post(url(subject, "V2"), nihss_post(value=2, form_version="1", reason="my exam"))
    page = refused.content.decode()
    assert refused.status_code == 200 and 'data-testid="conflict"' in page
    assert "Your version (not saved)" in page and "Saved version" in page
    row = Visit24h.objects.get(subject=subject)
    assert row.version == 2 and row.nihss_i1a == 1 and row.nihss_total == 15
    # Bob's values are still in the form, now on version 2: a deliberate second save wins.
    assert 'name="form_version" value="2"' in page and 'name="nihss_i9" value="2"' in page
    again = bob.post(url(subject, "V2"), nihss_post(value=2, form_version="2", reason="my exam"))
    assert again.status_code == 302
    assert Visit24h.objects.get(subject=subject).version == 3


def test_change_after_first_save_needs_a_reason(client_for, subject):
    client = client_for("coord001")
    client.post(url(subject, "V2"), nihss_post(value=0))
    response = client.post(url(subject, "V2"), nihss_post(value=1, form_version="1"))
    assert response.status_code == 200 and "a reason is required" in response.content.decode()
    assert Visit24h.objects.get(subject=subject).version == 1


def test_v3_derives_sich_and_shows_it_read_only_with_reasoning(client_for, subject):
    client = client_for("inv001")
    imaging = timezone.localtime(subject.randomized_at + timedelta(hours=30), SHANGHAI)
    data = {"imaging_modality": "ct", "imaging_at": imaging.strftime("%Y-%m-%dT%H:%M"),
            "new_ich": "true", "hb_2": "on", "ecass_ph2": "on", "worsening": "true",
            "alternative_explanation": "false", "ich_predominant_cause": "true",
            **nihss_post("before", value=0), **nihss_post("worse", value=0, worse_i5a="3", worse_i6a="2")}
    response = client.post(url(subject, "V3"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    row = Visit48h.objects.get(subject=subject)
    assert row.worse_total == 5 and row.nihss_item_changes["5a"] == 3
    assert row.sich_heidelberg is True
    page = client.get(url(subject, "V3")).content.decode()
    assert 'data-testid="sich"' in page and "Heidelberg (primary): sICH" in page
    assert 'name="sich_heidelberg"' not in page  # derived, never an input


def test_procedure_form_reveals_arm_so_blinded_users_cannot_open_it(client_for, subject):
    assert client_for("coord001").get(url(subject, "V1")).status_code == 200
    datamanager = client_for("datamanager")
    assert datamanager.get(url(subject, "V1")).status_code == 403
    assert datamanager.get(url(subject, "V2")).status_code == 200
    assert client_for("monitor").post(url(subject, "V2"), nihss_post()).status_code == 403


def test_procedure_with_passes_after_randomization(client_for, subject):
    from followup.models import Procedure

    fmt = "%Y-%m-%dT%H:%M"
    t = lambda m: timezone.localtime(subject.randomized_at + timedelta(minutes=m), SHANGHAI).strftime(fmt)  # noqa: E731
    data = {"first_reperfusion_at": t(20), "procedure_end_at": t(40), "stent": "true",
            "stent_type": "balloon_expandable", "stent_diameter_mm": "3.0", "stent_length_mm": "15",
            "final_etici": "2b67", "antithrombotic": "tirofiban", "antithrombotic_route": "ia",
            "passes-TOTAL_FORMS": "2", "passes-INITIAL_FORMS": "0",
            "passes-0-technique": "combined", "passes-0-etici": "1", "passes-0-at": t(5),
            "passes-1-technique": "", "passes-1-etici": ""}
    response = client_for("coord001").post(url(subject, "V1"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    procedure = Procedure.objects.get(subject=subject)
    assert [(p.position, p.technique, p.etici) for p in procedure.passes.all()] == [(1, "combined", "1")]
    bad = dict(data, first_reperfusion_at=t(-30), form_version="1", reason="x")
    page = client_for("coord001").post(url(subject, "V1"), bad).content.decode()
    assert "must follow randomization" in page


def test_casebook_runs_the_same_number_of_queries_at_1_and_50_events(client_for, personas, subject,
                                                                    django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for("coord001")
    user = personas["coord001"]

    def add_events(n):
        for i in range(n):
            services.adverse_event_save(subject=subject, user=user,
                                        data={"term": f"headache {i}", "onset_on": timezone.localdate(timezone=subject.site.tz)}, version=None)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/subjects/{subject.number}/").status_code == 200
        return len(ctx.captured_queries)

    add_events(1)
    one = count()
    add_events(49)
    fifty = count()
    assert one == fifty


def test_subjects_list_runs_constant_queries(client_for, make_subject):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for("coord001")
    make_subject(timezone.now() - timedelta(hours=40))

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/subjects/").status_code == 200
        return len(ctx.captured_queries)

    small = count()
    for days in range(20):
        make_subject(timezone.now() - timedelta(days=days, hours=3))
    assert count() == small


def test_due_this_week_and_overdue_lists(client_for, make_subject):
    due = make_subject(timezone.now() - timedelta(hours=40))  # V3 open
    late = make_subject(timezone.now() - timedelta(hours=70))  # V3 window closed, not entered
    page = client_for("coord001").get("/subjects/").content.decode()
    due_part = page.split('data-testid="due-list"')[1].split("</ul>")[0]
    overdue_part = page.split('data-testid="overdue-list"')[1].split("</ul>")[0]
    assert due.number in due_part
    assert late.number in overdue_part and "V3" in overdue_part


def test_assessor_list_shows_only_day90_windows(client_for, make_subject):
    make_subject(timezone.now() - timedelta(days=85))
    page = client_for("assessor001").get("/subjects/").content.decode()
    table = page.split('data-testid="subjects-table"')[1]
    assert "V5" in table and "V2" not in table and "V1" not in table


def test_casebook_shows_the_arm_only_where_the_blinding_matrix_allows(client_for, subject):
    from randomization.models import Allocation

    allocation = Allocation.objects.get(subject=subject)
    labels = [str(label) for _code, label in Allocation._meta.get_field("arm").choices]
    coord = client_for("coord001").get(f"/subjects/{subject.number}/").content.decode()
    # shown by its label, never as the stored code
    assert 'data-testid="arm"' in coord and allocation.get_arm_display() in coord
    assert f">{allocation.arm}<" not in coord
    assert "Asia/Shanghai" in coord and 'data-visit="V1"' in coord
    for username in ("assessor001", "datamanager"):
        client = client_for(username)
        for path in (f"/subjects/{subject.number}/", "/subjects/", url(subject, "V5"), url(subject, "V2")):
            page = client.get(path).content.decode()
            assert "STENTING" not in page and "CONTINUED_MT" not in page, (username, path)
            assert not any(label in page for label in labels), (username, path)
        page = client.get(f"/subjects/{subject.number}/").content.decode()
        assert 'data-visit="V1"' not in page


def test_ecass_uses_the_baseline_nihss_of_the_screening(personas, subject):
    from followup import nihss as scale

    assert services.baseline_nihss(subject) == 14  # tests.factories: eligible screening, NIHSS 14
    worse = {scale.field_name("worse", i): 0 for i in scale.ITEMS}
    worse.update(worse_i1a=3, worse_i5a=4, worse_i6a=4, worse_i9=3, worse_i4=3, worse_i3=1)  # total 18
    row = services.visit48h_save(subject=subject, user=personas["inv001"], version=None, data={
        "new_ich": True, "hb_2": True, "ich_predominant_cause": True, **worse})
    assert row.worse_total == 18
    assert row.sich_ecass3 is True and "NIHSS +4 from baseline" in row.sich_reasoning["ecass3"]


def test_a_fatal_adverse_event_counts_as_a_death_recorded_anywhere(personas, subject):
    died = timezone.localtime(subject.randomized_at, SHANGHAI).date() + timedelta(days=1)
    services.adverse_event_save(subject=subject, user=personas["coord001"], data={
        "term": "malignant oedema", "onset_on": died, "serious": True, "sae_death": True,
        "outcome": "fatal", "resolved_on": died})
    subject.refresh_from_db()
    assert subject.status == SubjectStatus.DEAD
    assert (Day90.objects.get(subject=subject).mrs, Day90.objects.get(subject=subject).death_on) == (6, died)


def test_day90_outside_window_opens_a_query(client_for, make_subject):
    from datamanagement.models import Query

    subject = make_subject(timezone.now() - timedelta(days=100))
    d = timezone.localtime(subject.randomized_at, SHANGHAI).date() + timedelta(days=99)
    client_for("assessor001").post(url(subject, "V5"), {
        "assessed_on": d.isoformat(), "mode": "phone", "respondent": "patient", "blinded_attested": "on", "mrs": "1"})
    row = Day90.objects.get(subject=subject)
    assert Query.objects.filter(crf_code="V5_DAY90", object_id=row.pk, field_name="assessed_on").exists()


def test_saved_forms_show_derived_totals_and_item_changes(client_for, subject):
    client = client_for("coord001")
    client.post(url(subject, "V2"), nihss_post(value=1))
    assert "NIHSS total (derived): <strong>15</strong>" in client.get(url(subject, "V2")).content.decode()
    client.post(url(subject, "V3"), {"new_ich": "false", **nihss_post("before", value=0),
                                     **nihss_post("worse", value=0, worse_i9="3")})
    page = client.get(url(subject, "V3")).content.decode()
    assert "per-item change (at − before)" in page and "9 +3" in page
