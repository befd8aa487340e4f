"""The randomization screen: facts, one confirm step, arm and number in large type."""

import re

import pytest

from randomization.models import Allocation

pytestmark = pytest.mark.django_db


def test_ready_list_shows_confirmed_screenings_of_own_sites_only(client_for, allocation_list, confirmed):
    mine, theirs = confirmed("001"), confirmed("002")
    body = client_for("coord001").get("/randomization/home/").content.decode()
    assert mine.number in body and theirs.number not in body


def test_screen_shows_key_facts_and_one_confirm_button(client_for, allocation_list, confirmed):
    screening = confirmed("001")
    response = client_for("coord001").get(f"/randomization/screening/{screening.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count('data-testid="confirm-randomize"') == 1
    for fact in ("Eligible", "inv001", "Patient", "64", "MCA M1", "Anterior", "Asia/Shanghai", "eTICI"):
        assert fact in body, fact


def test_confirm_randomizes_and_shows_arm_number_and_site_time(client_for, allocation_list, confirmed):
    screening = confirmed("001")
    client = client_for("coord001")
    response = client.post(f"/randomization/screening/{screening.pk}/", follow=True)
    allocation = Allocation.objects.get()
    assert response.redirect_chain[-1][0] == f"/randomization/allocation/{allocation.pk}/"
    body = response.content.decode()
    assert 'data-testid="subject-number">001-0001<' in body
    # the arm is shown by its label, never as the stored code
    assert allocation.get_arm_display() in body and f">{allocation.arm}<" not in body
    assert re.search(r'data-testid="randomized-at">\d{4}-\d\d-\d\d \d\d:\d\d Asia/Shanghai<', body)


def test_double_post_gives_one_allocation_and_the_same_page(client_for, allocation_list, confirmed):
    screening = confirmed("001")
    client = client_for("coord001")
    first = client.post(f"/randomization/screening/{screening.pk}/")
    second = client.post(f"/randomization/screening/{screening.pk}/")
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Allocation.objects.count() == 1


def test_domain_error_is_shown_in_plain_words_not_500(client_for, personas, sites, confirmed):
    # No allocation list at all: the coordinator gets a clear message on the same page.
    screening = confirmed("001")
    response = client_for("coord001").post(f"/randomization/screening/{screening.pk}/")
    assert response.status_code == 409
    body = response.content.decode()
    assert 'data-testid="randomize-error"' in body and "no allocation is left for stratum 001-anterior" in body


def test_not_confirmed_screening_shows_why(client_for, personas, sites, allocation_list):
    from tests.factories import make_screening

    screening = make_screening(site=sites["001"], coordinator=personas["coord001"])
    response = client_for("coord001").post(f"/randomization/screening/{screening.pk}/")
    assert response.status_code == 409 and "not yet confirmed by an investigator" in response.content.decode()


def test_other_site_and_blinded_roles_cannot_open_the_screen(client_for, allocation_list, confirmed):
    screening = confirmed("001")
    url = f"/randomization/screening/{screening.pk}/"
    assert client_for("coord002").get(url).status_code == 404  # existence not leaked to other sites
    assert client_for("coord002").post(url).status_code == 404
    for name in ("assessor001", "monitor", "datamanager", "statistician", "admin"):
        assert client_for(name).post(url).status_code in (403, 404), name
    assert not Allocation.objects.exists()


def test_result_page_hides_arm_from_blinded_and_other_sites(client_for, personas, allocation_list, confirmed):
    from randomization.services import subject_randomize

    allocation = subject_randomize(screening=confirmed("001"), user=personas["coord001"])
    url = f"/randomization/allocation/{allocation.pk}/"
    assert allocation.get_arm_display() in client_for("monitor").get(url).content.decode()
    for name in ("assessor001", "datamanager", "admin", "coord002", "inv002"):
        response = client_for(name).get(url)
        assert response.status_code in (403, 404), name
        body = response.content.decode()
        assert allocation.arm not in body and allocation.get_arm_display() not in body


def test_home_runs_constant_queries(client_for, personas, allocation_list, confirmed):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from randomization.services import subject_randomize

    client = client_for("coord001")
    counts = []
    for n in (2, 8):
        while Allocation.objects.count() < n:
            subject_randomize(screening=confirmed("001"), user=personas["coord001"])
            confirmed("001")
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/randomization/home/").status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_screen_of_unconfirmed_screening_says_why_and_offers_no_button(client_for, personas, sites, allocation_list):
    from tests.factories import make_screening

    screening = make_screening(site=sites["001"], coordinator=personas["coord001"])
    response = client_for("coord001").get(f"/randomization/screening/{screening.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "not yet confirmed by an investigator" in body and 'data-testid="confirm-randomize"' not in body


def test_randomizing_while_the_database_is_locked_is_refused_in_words(personas, client_for, allocation_list, confirmed):
    from datamanagement.services import lock_database

    screening = confirmed("001")
    lock_database(user=personas["datamanager"], reason="interim analysis")
    response = client_for("coord001").post(f"/randomization/screening/{screening.pk}/", follow=True)
    assert response.status_code == 409  # the screen again, with the reason — never a 500
    assert "Randomization is not possible now" in response.content.decode()
    assert not Allocation.objects.exists()


def test_the_screen_and_the_result_speak_simplified_chinese(client_for, allocation_list, confirmed):
    from django.conf import settings

    screening = confirmed("001")
    client = client_for("coord001")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    body = client.get(f"/randomization/screening/{screening.pk}/").content.decode()
    assert "确认：立即随机化" in body and f'<span class="nowrap-id">{screening.number}</span>' in body
    assert "退出登录" in body
    body = client.post(f"/randomization/screening/{screening.pk}/", follow=True).content.decode()
    allocation = Allocation.objects.get()
    arm_zh = {"STENTING": "支架置入或血管成形术", "CONTINUED_MT": "继续取栓治疗"}[allocation.arm]
    assert "受试者编号" in body and arm_zh in body and f">{allocation.arm}<" not in body
    assert f"筛选 {screening.number} 已完成随机化" in body
