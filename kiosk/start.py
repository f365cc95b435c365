"""What the kiosk's start screen offers: each service with its pictogram, each category in plain words.

A service's pictogram is its own (``services.pictogram``, set in the layout
file) or, when empty, one chosen from the words of its name and group
("Impuesto predial" -> coins, "Radicación de correspondencia" -> an
envelope), so a new site gets sensible pictures without any setting. A
category that applies from an age says so ("Adulto mayor (60 años o más)",
from ``priority_categories.min_age``): the older adult's right is not a
guess, and the words never read like the service "Adulto mayor".
"""

from __future__ import annotations

import unicodedata

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from shared import channels, store
from shared.rules import CATEGORY_PICTOGRAMS, SERVICE_PICTOGRAMS

DEFAULT_SERVICE_PICTOGRAM = "tramite"

# First match wins: words of the service's name, then of its group (lower case, no accents).
_KEYWORDS = (
    ("mayores", ("adulto mayor", "persona mayor", "personas mayores", "tercera edad")),
    ("transito", ("transito", "movilidad", "vehicul", "conduccion", "pase")),
    ("pagos", ("impuesto", "predial", "hacienda", "pago", "tesoreria", "factura", "cobro", "rentas")),
    ("comercio", ("comercio", "industria", "empresa", "negocio", "emprend")),
    ("salud", ("salud", "eps", "vacuna", "hospital")),
    ("educacion", ("educacion", "colegio", "matricula", "beca", "escuela")),
    ("familia", ("sisben", "social", "familia", "subsidio", "victima", "programa")),
    ("planeacion", ("licencia", "planeacion", "obra", "construccion", "predio", "catastro", "suelo",
                    "vivienda", "nomenclatura")),
    ("documentos", ("radicacion", "correspondencia", "pqr", "peticion", "queja", "documento",
                    "certificado", "ventanilla", "archivo")),
)

# The demo categories in the citizen's language; a category an administrator
# renamed or added keeps its own label.
CATEGORY_LABELS = {
    "discapacidad": ("Persona con discapacidad", _l("Persona con discapacidad")),
    "gestante": ("Mujer gestante", _l("Mujer gestante")),
    "infancia": ("Niños, niñas o adulto con bebé en brazos",
                 _l("Niños, niñas o adulto con bebé en brazos")),
    "adulto_mayor": ("Adulto mayor", _l("Adulto mayor")),
    "veterano": ("Veterano de la Fuerza Pública", _l("Veterano de la Fuerza Pública")),
}


def _plain(text: str) -> str:
    """Return text in lower case without accents, for matching words."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def service_pictogram(service: dict) -> str:
    """Return the pictogram of a service: its own, or one chosen from its name and group."""
    own = service.get("pictogram") or ""
    if own in SERVICE_PICTOGRAMS:
        return own
    # The name's words first, then the group's ("Industria y comercio" in "Hacienda" is commerce).
    for words in (_plain(service["name"]), _plain(service.get("group_name") or "")):
        for pictogram, keys in _KEYWORDS:
            if any(key in words for key in keys):
                return pictogram
    return DEFAULT_SERVICE_PICTOGRAM


def category_label(category: dict) -> str:
    """Return a category's label in the page's language, with the age it applies from."""
    known = CATEGORY_LABELS.get(category["code"])
    label = str(known[1]) if known and known[0] == category["label"] else category["label"]
    if category.get("min_age"):
        label = _("%(label)s (%(age)s años o más)", label=label, age=category["min_age"])
    return label


def start_screen(engine, site: dict) -> dict:
    """Return the kiosk's start screen: services (waiting, open, pictogram) and categories."""
    db = engine.db
    counts = {row["code"]: row for row in engine.waiting_summary(site)}
    services = []
    for service in store.list_services(db, site["id"], only_active=True):
        row = counts.get(service["code"], {})
        services.append({
            "code": service["code"], "name": service["name"], "group": service["group_name"],
            "description": service["description"], "requirements": service["requirements"],
            "waiting": row.get("waiting", 0), "open": engine.is_open(site, service),
            "pictogram": service_pictogram(service),
        })
    categories = [{"code": c["code"], "label": category_label(c),
                   "pictogram": c["pictogram"] if c["pictogram"] in CATEGORY_PICTOGRAMS else "preferencial"}
                  for c in store.list_categories(db, only_active=True) if c["kiosk_visible"]]
    config = channels.settings(db, site)
    return {"site": site["code"], "open": engine.is_open(site), "services": services,
            "categories": categories,
            # «Tengo cita»: the site takes appointments or tickets from phones.
            "checkin": bool(config["appointments"]["enabled"] or config["remote"]["enabled"])}
