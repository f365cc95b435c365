"""A stopped live server keeps its port: a story that restarts its server talks to it, not another.

With two pytest-xdist workers, a port freed by ``LiveServer.stop()`` could be handed out
by ``free_port()`` to the other worker's new server; a kiosk probing ``/healthz`` across the
gap would then hear "ok" from a stranger and never show "Fuera de servicio".
"""
import errno
import socket

import pytest
import requests

from tests.conftest import LiveServer, free_port


@pytest.mark.engines("sqlite")
def test_a_stopped_server_refuses_connections_and_keeps_its_port_until_it_starts_again(tmp_path):
    server = LiveServer(tmp_path / "instance", database=str(tmp_path / "instance" / "turnos.sqlite3"))
    (tmp_path / "instance").mkdir()
    server.start()
    try:
        server.stop()
        with pytest.raises(requests.ConnectionError):
            requests.get(server.url + "/healthz", timeout=5)
        with socket.socket() as other, pytest.raises(OSError) as taken:
            other.bind(("127.0.0.1", server.port))
        assert taken.value.errno == errno.EADDRINUSE
        assert server.port not in {free_port() for _ in range(200)}

        server.start()
        assert requests.get(server.url + "/healthz", timeout=5).status_code == 200
    finally:
        server.close()
