"""The preferred language applies at sign-in; the sign-in page has the language switcher;
switching while signed in keeps the choice; codes are shown as labels."""

import pytest
from django.test import Client

from core.models import User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_sign_in_page_has_the_switcher_and_switching_translates_it(personas):
    client = Client()
    page = client.get("/account/login/").content.decode()
    assert 'name="language"' in page and "简体中文" in page and ">Sign in<" in page
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/account/login/"})
    assert response.status_code == 302
    page = client.get("/account/login/").content.decode()
    assert 'lang="zh-hans"' in page and "登录" in page and "用户名" in page


def test_the_preferred_language_applies_at_sign_in(personas):
    User.objects.filter(username="coord001").update(preferred_language="zh-hans")
    client = Client()
    client.cookies["django_language"] = "en"  # the browser was last used in English
    response = client.post("/account/login/", {"username": "coord001", "password": PASSWORD})
    assert response.status_code == 302
    home = client.get("/").content.decode()
    assert 'lang="zh-hans"' in home and "您的角色" in home


def test_an_english_preference_applies_at_sign_in_too(personas):
    client = Client()
    client.cookies["django_language"] = "zh-hans"
    client.post("/account/login/", {"username": "coord001", "password": PASSWORD})
    home = client.get("/").content.decode()
    assert 'lang="en"' in home and "Your roles" in home


def test_switching_language_when_signed_in_becomes_the_preference(client_for, personas):
    client = client_for("coord001")
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert User.objects.get(username="coord001").preferred_language == "zh-hans"
    client.post("/i18n/setlang/", {"language": "xx", "next": "/"})  # unknown: ignored
    assert User.objects.get(username="coord001").preferred_language == "zh-hans"


def test_casebook_shows_the_arm_label_not_the_code(client_for, personas, sites):
    from randomization.services import allocation_list_generate, subject_randomize
    from tests.factories import make_confirmed_screening

    allocation_list_generate(user=personas["statistician"], seed="label-seed", entries_per_stratum=10)
    screening = make_confirmed_screening(site=sites["001"], coordinator=personas["coord001"],
                                         investigator=personas["inv001"])
    allocation = subject_randomize(screening=screening, user=personas["coord001"], notify=False)
    client = client_for("coord001")
    client.cookies["django_language"] = "zh-hans"
    page = client.get(f"/subjects/{allocation.subject.number}/").content.decode()
    label = {"STENTING": "支架置入或血管成形术", "CONTINUED_MT": "继续取栓治疗"}[allocation.arm]
    assert label in page
    assert allocation.arm not in page  # "组别: STENTING" was the bug
