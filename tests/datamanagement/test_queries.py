"""Query life cycle (open → answered → closed / re-opened), thread, permissions for every
role, site scope, notifications, counts, and the queue's constant number of SQL queries."""

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext

from datamanagement import selectors, services
from datamanagement.exceptions import QueryError, QueryTransitionRefused

pytestmark = pytest.mark.django_db


@pytest.fixture
def query(screening, personas):
    return services.query_open(user=personas["monitor"], instance=screening, field_name="age_years",
                               text="Age differs from the admission note (65?)")


def test_life_cycle_open_answer_close_reopen_with_thread(query, personas):
    assert query.status == "open" and query.opened_by == personas["monitor"]
    q = services.query_answer(user=personas["coord001"], query=query, text="Checked: 64 is right")
    assert q.status == "answered" and q.answered_at is not None
    q = services.query_close(user=personas["monitor"], query=q, text="Thanks")
    assert q.status == "closed" and q.closed_by == personas["monitor"]
    q = services.query_reopen(user=personas["monitor"], query=q, text="Source says 65 after all")
    assert q.status == "open" and q.closed_at is None
    kinds = [m.kind for m in selectors.query_thread(q)]
    assert kinds == ["open", "answer", "close", "reopen"]
    authors = [m.author.username for m in selectors.query_thread(q)]
    assert authors == ["monitor", "coord001", "monitor", "monitor"]


def test_transitions_out_of_order_are_refused(query, personas):
    with pytest.raises(QueryTransitionRefused):
        services.query_reopen(user=personas["monitor"], query=query, text="x")
    services.query_close(user=personas["monitor"], query=query)
    with pytest.raises(QueryTransitionRefused):
        services.query_answer(user=personas["coord001"], query=query, text="late")
    with pytest.raises(QueryTransitionRefused):
        services.query_close(user=personas["monitor"], query=query)


def test_reopen_needs_a_reason_and_open_needs_a_question(query, screening, personas):
    services.query_close(user=personas["monitor"], query=query)
    with pytest.raises(QueryError):
        services.query_reopen(user=personas["monitor"], query=query, text="  ")
    with pytest.raises(QueryError):
        services.query_open(user=personas["monitor"], instance=screening, field_name="age_years", text="")
    with pytest.raises(QueryError):
        services.query_open(user=personas["monitor"], instance=screening, field_name="no_such", text="?")


# Who may do what, for every role (SPEC §2): site 001 screening form.
ROLES = ["coord001", "inv001", "assessor001", "coord002", "inv002", "monitor", "datamanager",
         "statistician", "admin"]
MAY_OPEN = {"monitor", "datamanager"}
MAY_ANSWER = {"coord001", "inv001"}
MAY_CLOSE = {"monitor", "datamanager"}
MAY_SEE = {"coord001", "inv001", "monitor", "datamanager"}


@pytest.mark.parametrize("who", ROLES)
def test_open_permission_for_every_role(who, screening, personas):
    call = lambda: services.query_open(user=personas[who], instance=screening,  # noqa: E731
                                       field_name="age_years", text="Please check")
    if who in MAY_OPEN:
        assert call().status == "open"
    else:
        with pytest.raises(PermissionDenied):
            call()


@pytest.mark.parametrize("who", ROLES)
def test_answer_permission_for_every_role(who, query, personas):
    if who in MAY_ANSWER:
        assert services.query_answer(user=personas[who], query=query, text="ok").status == "answered"
    else:
        with pytest.raises(PermissionDenied):
            services.query_answer(user=personas[who], query=query, text="ok")


@pytest.mark.parametrize("who", ROLES)
def test_close_and_reopen_permission_for_every_role(who, query, personas):
    if who in MAY_CLOSE:
        assert services.query_close(user=personas[who], query=query).status == "closed"
        assert services.query_reopen(user=personas[who], query=query, text="again").status == "open"
    else:
        with pytest.raises(PermissionDenied):
            services.query_close(user=personas[who], query=query)


@pytest.mark.parametrize("who", ROLES)
def test_visibility_for_every_role(who, query, personas, client_for):
    from core.access import forget_memberships

    forget_memberships(personas[who])
    visible = selectors.visible_queries(personas[who]).filter(pk=query.pk).exists()
    assert visible is (who in MAY_SEE)
    response = client_for(who).get(f"/data/queries/{query.pk}/")
    assert response.status_code == (200 if who in MAY_SEE else 404)


def test_site_users_see_only_their_sites_queries(make_screening, personas):
    s2 = make_screening(site="002")
    dm = personas["datamanager"]
    q2 = services.query_open(user=dm, instance=s2, field_name="aspects", text="ASPECTS on the CT report?")
    assert not selectors.visible_queries(personas["coord001"]).filter(pk=q2.pk).exists()
    assert selectors.visible_queries(personas["coord002"]).filter(pk=q2.pk).exists()
    # the monitor is assigned to site 001 only
    assert not selectors.visible_queries(personas["monitor"]).filter(pk=q2.pk).exists()
    with pytest.raises(PermissionDenied):
        services.query_open(user=personas["monitor"], instance=s2, field_name="aspects", text="?")


def test_site_is_notified_by_email_after_commit(screening, personas, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        q = services.query_open(user=personas["monitor"], instance=screening, field_name="aspects",
                                text="ASPECTS 8 or 7?")
    assert sorted(m.to[0] for m in mail.outbox) == ["coord001@example.org", "inv001@example.org"]
    assert all(q.object_label in m.subject and "ASPECTS 8 or 7?" in m.body for m in mail.outbox)
    # and in the app's notification centre, linking to the query
    from core.models import Notification

    notes = Notification.objects.filter(url=f"/data/queries/{q.pk}/")
    assert sorted(n.user.username for n in notes) == ["coord001", "inv001"]
    assert all(n.email_state == "sent" for n in notes)


def test_no_notification_when_the_transaction_rolls_back(screening, personas, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.query_open(user=personas["monitor"], instance=screening, field_name="aspects", text="?")
    assert len(callbacks) == 1 and mail.outbox == []


def test_counts_per_form_and_field(screening, make_screening, personas):
    other = make_screening()
    m = personas["monitor"]
    q1 = services.query_open(user=m, instance=screening, field_name="age_years", text="?")
    services.query_open(user=m, instance=screening, field_name="age_years", text="??")
    services.query_open(user=m, instance=screening, field_name="aspects", text="?")
    services.query_answer(user=personas["coord001"], query=q1, text="fine")
    counts = selectors.query_counts_for(user=m, instances=[screening, other])
    c = counts[("SCREENING", screening.pk)]
    assert (c.open, c.answered, c.unresolved) == (2, 1, 3)
    assert c.by_field["age_years"] == {"open": 1, "answered": 1, "closed": 0}
    assert c.by_field["aspects"]["open"] == 1
    assert counts[("SCREENING", other.pk)].unresolved == 0
    # site staff of another site get nothing for these forms
    assert selectors.query_counts_for(user=personas["coord002"], instances=[screening])[("SCREENING", screening.pk)].unresolved == 0


def test_queue_filters_by_site_status_age_and_form(screening, make_screening, personas):
    import datetime as dt

    from django.utils import timezone

    dm = personas["datamanager"]
    q1 = services.query_open(user=dm, instance=screening, field_name="age_years", text="?")
    q2 = services.query_open(user=dm, instance=make_screening(site="002"), field_name="age_years", text="?")
    services.query_close(user=dm, query=q2)
    later = timezone.now() + dt.timedelta(days=10)
    ids = lambda **kw: {q.pk for q in selectors.query_list(user=dm, **kw)}  # noqa: E731
    assert ids(site="001") == {q1.pk}
    assert ids(status="closed") == {q2.pk}
    assert ids(status="unresolved") == {q1.pk}
    assert ids(form="SCREENING") == {q1.pk, q2.pk}
    assert ids(form="V5_DAY90") == set()
    assert ids(age="le7") == {q1.pk, q2.pk}
    assert ids(age="8to30", now=later) == {q1.pk, q2.pk}
    assert ids(age="gt30", now=later) == set()


def _make_queries(n, screening, user):
    from datamanagement.models import Query, QueryMessage

    rows = Query.objects.bulk_create([
        Query(crf_code="SCREENING", object_id=screening.pk, field_name="age_years", object_label=screening.number,
              site=screening.site, text=f"q{i}", opened_by=user) for i in range(n)])
    QueryMessage.objects.bulk_create([QueryMessage(query=q, kind="open", author=user, text=q.text) for q in rows])


def test_queue_page_runs_the_same_number_of_queries_for_5_and_60_queries(screening, personas, client_for):
    client = client_for("monitor")
    _make_queries(5, screening, personas["monitor"])
    client.get("/data/queries/")  # warm caches (sessions, content types)
    with CaptureQueriesContext(connection) as small:
        assert client.get("/data/queries/").status_code == 200
    _make_queries(55, screening, personas["monitor"])
    with CaptureQueriesContext(connection) as large:
        response = client.get("/data/queries/")
    assert response.status_code == 200 and "60 queries" in response.content.decode()
    assert len(large.captured_queries) == len(small.captured_queries)


def test_http_flow_monitor_raises_site_answers_monitor_closes(screening, client_for):
    monitor, coord = client_for("monitor"), client_for("coord001")
    r = monitor.post(f"/data/crf/SCREENING/{screening.pk}/query/", {"field_name": "aspects", "text": "ASPECTS 8?"})
    assert r.status_code == 302
    todo = coord.get("/data/queries/").content.decode()
    assert "ASPECTS 8?" in todo
    from datamanagement.models import Query

    q = Query.objects.get()
    assert coord.post(f"/data/queries/{q.pk}/", {"action": "answer", "text": "Yes, 8"}).status_code == 302
    # the site cannot close its own query
    assert coord.post(f"/data/queries/{q.pk}/", {"action": "close", "text": ""}).status_code == 403
    assert monitor.post(f"/data/queries/{q.pk}/", {"action": "close", "text": "ok"}).status_code == 302
    q.refresh_from_db()
    assert q.status == "closed"
    # an empty re-open is refused in plain words, not a 500
    r = monitor.post(f"/data/queries/{q.pk}/", {"action": "reopen", "text": ""})
    assert r.status_code == 200 and "say why" in r.content.decode()


def test_crf_review_page_shows_field_counts(screening, personas, client_for):
    services.query_open(user=personas["monitor"], instance=screening, field_name="aspects", text="?")
    body = client_for("monitor").get(f"/data/crf/SCREENING/{screening.pk}/").content.decode()
    assert "1 open" in body and "ASPECTS" in body


def test_correcting_a_value_from_the_query_answers_it_and_records_the_reason(query, personas):
    services.crf_field_correct(user=personas["coord001"], instance=query_instance(query), field_name="age_years",
                               value="65", reason="admission note says 65", query=query)
    query.refresh_from_db()
    assert query.status == "answered"
    correction = query.messages.get(kind="correction")
    assert "64 → 65" in correction.text and "admission note says 65" in correction.text
    assert query_instance(query).age_years == 65


def query_instance(query):
    from eligibility.models import Screening

    return Screening.objects.get(pk=query.object_id)


def test_a_corrected_time_is_read_in_the_sites_zone(screening, personas):
    import datetime as dt

    from django.utils import timezone

    local = timezone.localtime(screening.last_known_well, screening.site.tz) - dt.timedelta(minutes=30)
    services.crf_field_correct(user=personas["coord001"], instance=screening, field_name="last_known_well",
                               value=local.strftime("%Y-%m-%dT%H:%M"), reason="ambulance sheet")
    screening.refresh_from_db()
    assert screening.last_known_well == local.astimezone(dt.UTC).replace(second=0, microsecond=0)


def test_unknown_form_or_record_is_not_found_never_a_500(client_for, screening):
    client = client_for("monitor")
    assert client.get("/data/crf/NO_SUCH_FORM/1/").status_code == 404
    assert client.get(f"/data/crf/SCREENING/{screening.pk + 999}/").status_code == 404
    assert client.get("/data/queries/999999/").status_code == 404
    # a record of another site is not found either (its existence is not leaked)
    assert client_for("coord002").get(f"/data/crf/SCREENING/{screening.pk}/").status_code == 404
