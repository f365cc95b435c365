"""Translations: Spanish first (the message ids), English through Flask-Babel."""

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


def compile_catalogs(folder: Path = TRANSLATIONS) -> None:
    """Compile each .po catalog to .mo when the .mo is missing or older."""
    for po in folder.glob("*/LC_MESSAGES/*.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            with po.open("rb") as fh:
                catalog = read_po(fh)
            tmp = mo.with_suffix(".mo.tmp")
            with tmp.open("wb") as fh:
                write_mo(fh, catalog)
            tmp.replace(mo)


def init_app(app) -> None:
    """Set up Flask-Babel with the project's catalogs."""
    compile_catalogs()
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    babel.init_app(app, locale_selector=select_locale)
