import pytest

from tests.datamanagement.conftest import save_crf

pytestmark = pytest.mark.django_db


def test_change_after_first_save_needs_reason(screening, personas):
    from datamanagement.exceptions import ReasonRequired

    with pytest.raises(ReasonRequired):
        save_crf(screening, user=personas["coord001"], age_years=70)
    fresh, w = save_crf(screening, user=personas["coord001"], reason="typo", age_years=70)
    assert w.changed == {"age_years": (67, 70)}
