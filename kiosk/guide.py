"""The kiosk's optional spoken guide, in the server's Spanish voice (``shared/speech.py``).

For a citizen who cannot read the screen: each step's instructions, the name
of a service or category touched once, and the ticket's code. Only known
sentences are spoken (a step, a service or category of the kiosk's site, a
ticket of its site): nothing a request makes up reaches espeak-ng.
"""

from __future__ import annotations

from flask import current_app, jsonify, send_file
from flask_babel import lazy_gettext as _l

from shared import media, speech, store
from shared.clock import current_clock
from shared.errors import DomainError, not_found
from shared.speech import SpeechUnavailable, call_phrase

from .start import category_label

STEPS = {
    "services": "Bienvenido. Toque el dibujo de su trámite. Al tocarlo una vez, le digo su nombre; "
                "tóquelo otra vez para elegirlo.",
    "group": "Toque el dibujo de su trámite. Tóquelo otra vez para elegirlo.",
    "priority": "¿Está usted en alguno de estos casos? Si es así, le atenderemos primero. "
                "Toque un dibujo para oír cuál es, y otra vez para elegirlo. Si no, toque: No, ninguno.",
    "more_time": "¿Necesita más tiempo? Toque la pantalla para continuar.",
    "thanks": "Gracias. Espere a que lo llamen en la pantalla de la sala.",
}
NONE_PHRASE = "No, ninguno de estos casos."


def phrase(db, site: dict, kind: str, key: str) -> str:
    """Return the sentence for one piece of the guide, or raise not found."""
    if kind == "step" and key in STEPS:
        return STEPS[key]
    if kind == "category" and key == "none":
        return NONE_PHRASE
    if kind == "service":
        service = store.find_service(db, site["id"], key)
        if service is not None and service["active"]:
            return service["name"]
    if kind == "category":
        category = store.find_category(db, key)
        if category is not None and category["active"] and category["kiosk_visible"]:
            return category_label(category)
    if kind == "ticket":
        ticket = store.latest_segment(db, key) if len(key) <= 64 else None
        if ticket is not None and ticket["site_id"] == site["id"]:
            return (f"Su turno es: {call_phrase(ticket['code'], '')} "
                    "Tome su tiquete y espere a que lo llamen en la pantalla de la sala.")
    raise not_found("guide", f"{kind}/{key}")


def wav(db, site: dict, kind: str, key: str):
    """Answer with the WAV of one piece of the guide (503 when the server cannot speak)."""
    sentence = phrase(db, site, kind, key)
    cache = speech.current_cache()
    try:
        if cache is None:
            raise SpeechUnavailable("no speech cache")
        path = media.voice_clip(current_app.config["INSTANCE"], db, cache, sentence,
                                current_clock().now_ms())
    except SpeechUnavailable as exc:
        current_app.logger.warning("kiosk guide unavailable: %s", exc)
        error = DomainError(_l("La guía por voz no está disponible en este momento."),
                            code="speech_unavailable", status=503)
        return jsonify(error.to_dict()), 503
    return send_file(path, mimetype="audio/wav", max_age=86400)
