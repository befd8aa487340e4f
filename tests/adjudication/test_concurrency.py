"""Two readers taking the last free read of a case at the same moment: one gets it, the
other is told the case has no free read (never a third independent read, never a 500)."""

from __future__ import annotations

import pytest

from tests.adjudication.conftest import WAV, upload
from tests.followup.test_concurrency import race

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_readers_claiming_the_last_read_one_wins(personas, readers, randomized_subject, material_storage):
    from adjudication.exceptions import CaseNotAvailable
    from adjudication.models import Case, Read
    from adjudication.services import material_upload, read_claim
    from tests.conftest import make_user

    subject = randomized_subject("001")
    material_upload(user=personas["assessor001"], subject=subject, category="day90_recording",
                    uploaded=upload("call.wav", WAV))
    case = Case.objects.get(subject=subject)
    read_claim(user=readers["rater2"], case=case)
    rater4 = make_user("rater4", "mrs_rater", None)
    results = race(lambda: read_claim(user=readers["rater3"], case=case), lambda: read_claim(user=rater4, case=case))
    winners = [r for r in results if isinstance(r, Read)]
    losers = [r for r in results if isinstance(r, CaseNotAvailable)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert sorted(Read.objects.filter(case=case).values_list("number", flat=True)) == [1, 2]
    case.refresh_from_db()
    assert case.reads_claimed == 2
