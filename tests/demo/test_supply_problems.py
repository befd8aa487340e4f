"""A randomization page that cannot randomize says why before anyone fills a form, and tells
"never set up" from "used up" — on the randomization, home, screening list and screening pages."""

import pytest

pytestmark = pytest.mark.django_db


def _confirmed_screening(personas, sites, circulation="anterior"):
    import random

    from django.utils import timezone

    from eligibility.services import screening_confirm, screening_create
    from randomization.seeding import screening_data

    s = screening_create(site=sites["001"], user=personas["coord001"],
                         data=screening_data(random.Random(7), timezone.now(), posterior=circulation == "posterior"))
    return screening_confirm(screening=s, user=personas["inv001"])


def test_no_list_ever_says_never_set_up_everywhere(client_for, personas, sites):
    screening = _confirmed_screening(personas, sites)
    client = client_for("coord001")
    for url in ("/", "/randomization/home/", "/screening/list/", "/screening/new/",
                f"/randomization/screening/{screening.pk}/"):
        page = client.get(url).content.decode()
        assert "no active allocation list for 001-anterior" in page, url
        assert 'data-kind="never"' in page and 'data-kind="used_up"' not in page, url
    page = client.get(f"/randomization/screening/{screening.pk}/").content.decode()
    assert 'data-testid="confirm-randomize"' not in page  # no button that cannot work


def test_used_up_list_says_used_up_and_other_strata_are_fine(client_for, personas, sites):
    from randomization.models import AllocationEntry
    from randomization.services import allocation_list_generate, subject_randomize

    allocation_list_generate(user=personas["statistician"], seed="used up", entries_per_stratum=2,
                             site_codes=["001"])
    for _ in range(2):
        subject_randomize(screening=_confirmed_screening(personas, sites), user=personas["coord001"], notify=False)
    assert not AllocationEntry.objects.filter(stratum="001-anterior", used=False).exists()
    screening = _confirmed_screening(personas, sites)
    page = client_for("coord001").get(f"/randomization/screening/{screening.pk}/").content.decode()
    assert "the allocation list for 001-anterior is used up" in page
    assert 'data-kind="never"' not in page and 'data-testid="confirm-randomize"' not in page
    home = client_for("coord001").get("/").content.decode()
    assert "001-posterior" not in home  # its entries are still there
    assert client_for("coord002").get("/").content.decode().count('data-kind="never"') == 2  # 002 has no list
    assert 'data-testid="supply-problem"' not in client_for("monitor").get("/").content.decode()
