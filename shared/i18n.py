"""Translations: Spanish first (the message ids), English through Flask-Babel."""

import functools
import io
import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import request, session
from flask_babel import Babel

TRANSLATIONS = Path(__file__).parent / "translations"

babel = Babel()


def select_locale() -> str:
    """Pick the language: ?lang=, then the session's choice, then the browser's, then Spanish."""
    from flask import current_app, has_request_context

    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    languages = current_app.config["LANGUAGES"]
    wanted = request.args.get("lang")
    if wanted in languages:
        return wanted
    if session.get("lang") in languages:
        return session["lang"]
    return request.accept_languages.best_match(languages, default="es") or "es"


def compile_catalogs(target: Path, source: Path = TRANSLATIONS) -> None:
    """Compile each .po catalog of ``source`` into ``target``, unless the same .mo is already there.

    The target is the instance folder's, never the program's: the program folder may
    belong to root and be mounted read-only (the systemd units' ``ProtectSystem=strict``,
    a container's image). Processes that start together on one instance folder each
    write a file of their own and rename it into place, so none reads a half-written one.
    """
    for po in source.glob("*/LC_MESSAGES/*.po"):
        mo = target / po.relative_to(source).with_suffix(".mo")
        compiled = _compiled(po, po.stat().st_mtime_ns)
        if mo.exists() and mo.read_bytes() == compiled:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=mo.parent, prefix=mo.name, suffix=".tmp",
                                         delete=False) as fh:
            fh.write(compiled)
        os.replace(fh.name, mo)


@functools.lru_cache(maxsize=8)
def _compiled(po: Path, _mtime_ns: int) -> bytes:
    """Return a catalog compiled to .mo (once per process and version of the .po)."""
    with po.open("rb") as fh:
        catalog = read_po(fh)
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def init_app(app) -> None:
    """Set up Flask-Babel with the project's catalogs (compiled into the instance folder)."""
    if "BABEL_TRANSLATION_DIRECTORIES" not in app.config:
        compiled = Path(app.instance_path) / "translations"
        compile_catalogs(compiled)
        app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compiled)
    babel.init_app(app, locale_selector=select_locale)
