"""Fixtures for the administration stories: a browser-like session per staff user."""

import pytest

from shared.events import socketio
from tests.admin.pages import StaffBrowser


@pytest.fixture
def admin(app):
    """The administrator, logged in through the login page."""
    return StaffBrowser(app, "admin")


@pytest.fixture
def supervisor(app):
    """A supervisor, logged in through the login page."""
    return StaffBrowser(app, "supervisor")


@pytest.fixture
def listener(app, api):
    """A staff socket of CAM Centro that records what it hears."""
    client = socketio.test_client(app, auth={"token": api.token("supervisor"), "site": "cam-centro"})
    assert client.is_connected()
    client.get_received()
    return client
