"""Fixtures for the kiosk stories: a paired kiosk and a browser-like client holding its cookie."""

from __future__ import annotations

import pytest

from tests.printing.helpers import Kiosk


@pytest.fixture
def kiosk(api):
    """The entrance kiosk of CAM Centro (virtual printer)."""
    return Kiosk(api)


@pytest.fixture
def kiosk_browser(app, kiosk):
    """A test client that carries the kiosk's device cookie, as the paired kiosk browser does."""
    browser = app.test_client()
    browser.set_cookie("turnos_device", kiosk.token)
    return browser
