"""Fixtures for printing stories: a kiosk, and the printer team's fake printers on real links."""

from __future__ import annotations

import pytest

# The fake printers (TCP server, socat pty pair) belong to the printer library's tests.
from tests.printer.conftest import content, pty_pair, serial_printer, tcp_printer  # noqa: F401
from tests.printing.helpers import Kiosk


@pytest.fixture
def kiosk(api):
    """The entrance kiosk of CAM Centro, printing on the virtual printer until told otherwise."""
    return Kiosk(api)


@pytest.fixture(params=["tcp", pytest.param("serial", marks=pytest.mark.serial)])
def printer_link(request):
    """A fake printer with paper on the real TCP path and on the real serial path."""
    return request.getfixturevalue(f"{request.param}_printer")
