"""The socket events of a remote kiosk's printer agent (the agent program is ``shared/printing/agent.py``).

``agent_ready`` admits a kiosk's agent to its room and offers it the jobs still
unanswered; ``print_result`` records its answer to a job; ``printer_status``
notes what its printer says between jobs. What each does is
``shared/printing/remote.py``; here is only who may say it.
"""

from flask import current_app, request
from flask_babel import force_locale
from flask_socketio import join_room

from shared import store
from shared.db import get_db
from shared.events import AGENT_READY, PRINT_RESULT, PRINTER_STATUS, agent_room, socketio
from shared.printing import remote
from shared.printing import status as printer_status
from shared.sockets import add_disconnect_hook, socket_principal

_AGENT_DEVICE = "turnos.agent_device"


def _socket_kiosk():
    """Return the kiosk principal of the current socket, or None."""
    principal = socket_principal()
    return principal if principal is not None and principal.role == "kiosk" else None


def _agent_device() -> int | None:
    """Return the kiosk this socket is the printer agent of, or None."""
    return request.environ.get(_AGENT_DEVICE)


@socketio.on(AGENT_READY)
def on_agent_ready(data=None):
    """Accept a kiosk's printer agent: join its room, note its status, re-offer unanswered jobs."""
    principal = _socket_kiosk()
    if principal is None:
        return {"ok": False, "error": "forbidden"}
    db = get_db()
    device = store.device_by_id(db, principal.device_id)
    if not remote.prints_through_agent(device):
        return {"ok": False, "error": "not_agent",
                "message": "This kiosk does not print through an agent: set its printer to 'agent'."}
    join_room(agent_room(device["id"]))
    request.environ[_AGENT_DEVICE] = device["id"]
    remote.agent_arrived(device["id"], request.sid)
    data = data if isinstance(data, dict) else {}
    with force_locale("es"):
        offered = remote.welcome(db, device, data.get("status"), data.get("message"))
    return {"ok": True, "device": device["id"], "offered": offered}


@socketio.on(PRINT_RESULT)
def on_print_result(data=None):
    """Record an agent's answer to a job (answering the same job twice changes nothing)."""
    principal = _socket_kiosk()
    if principal is None or _agent_device() is None:
        return {"ok": False, "error": "forbidden"}
    if not isinstance(data, dict) or not isinstance(data.get("job"), str) \
            or not isinstance(data.get("ok"), bool):
        return {"ok": False, "error": "invalid"}
    with force_locale("es"):
        return remote.answer(get_db(), principal.device_id, data)


@socketio.on(PRINTER_STATUS)
def on_printer_status(data=None):
    """Note the printer status an agent reports between jobs."""
    principal = _socket_kiosk()
    if principal is None or _agent_device() is None or not isinstance(data, dict):
        return {"ok": False, "error": "forbidden"}
    db = get_db()
    with force_locale("es"):
        printer_status.note_reported(current_app._get_current_object(), db,
                                     store.device_by_id(db, principal.device_id), data.get("status"))
    return {"ok": True}


def _agent_left() -> None:
    """Forget a printer agent's socket when it disconnects."""
    device_id = _agent_device()
    if device_id is not None:
        remote.agent_left(device_id, request.sid)


def init_app(app) -> None:
    """Forget a printer agent's presence when its socket leaves (its events are declared above)."""
    add_disconnect_hook(_agent_left)
