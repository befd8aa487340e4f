"""Pages requested in zh-hans leave Chinese active in the test's thread (LocaleMiddleware
activates a language per request and does not reset it): reset it after each test, so a test
that runs later is not read in Chinese."""

import pytest


@pytest.fixture(autouse=True)
def _language_reset():
    from django.utils import translation

    yield
    translation.deactivate()
