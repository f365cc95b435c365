"""A kiosk's printer settings: where its tickets go, on what paper, with which profile and code page."""

from __future__ import annotations

from escpos import capabilities
from flask_babel import lazy_gettext as _l

from ..errors import Invalid
from .connections import parse_spec
from .layout import PAPER

PAPERS = tuple(PAPER)

AGENT = "agent"  # the kiosk's own printer, driven by its remote printer agent
DEFAULTS = {"printer": "virtual:", "paper": "80mm", "profile": "TM-T20II", "codepage": "CP858",
            "native_qr": True}


def printer_settings(config: dict | None) -> dict:
    """Return a kiosk's printer settings: its device config over the defaults."""
    config = config or {}
    return {key: config.get(key, default) for key, default in DEFAULTS.items()}


def printer_kind(spec: str) -> str:
    """Return the kind of a printer spec (virtual, tcp, serial, usb, file, none, agent)."""
    return spec if spec in (AGENT, "none") else spec.partition(":")[0]


def check_spec(raw) -> str:
    """Return a printer address in its written form, or refuse it.

    A virtual printer always writes in the instance's tickets folder and a
    file printer only to a device under /dev, so no setting can make the
    server write files elsewhere.
    """
    raw = raw.strip() if isinstance(raw, str) else ""
    if raw == AGENT:
        return raw
    try:
        spec = parse_spec(raw)
    except ValueError:
        raise Invalid(_l("Impresora no válida. Use serial:/dev/ttyUSB0, tcp:IP:9100, usb:VID:PID, "
                         "file:/dev/usb/lp0, virtual:, agent o none."),
                      code="invalid_printer", field="printer") from None
    if spec.kind == "virtual" and spec.path:
        raise Invalid(_l("La impresora virtual se escribe «virtual:» (sin carpeta): guarda los "
                         "tiquetes en la carpeta de la instancia."), code="invalid_printer",
                      field="printer")
    if spec.kind == "file" and not (spec.path or "").startswith("/dev/"):
        raise Invalid(_l("Una impresora de archivo debe ser un dispositivo bajo /dev/."),
                      code="invalid_printer", field="printer")
    return str(spec)


def printer_profiles() -> list[str]:
    """Return the printer models python-escpos knows."""
    return sorted(capabilities.CAPABILITIES["profiles"])


def validate_settings(values: dict) -> dict:
    """Check the printer settings an administrator sends; return them, or raise Invalid."""
    out = {}
    if values.get("printer") is not None:
        spec = values["printer"].strip()
        check_spec(spec)
        out["printer"] = spec
    if values.get("paper") is not None:
        if values["paper"] not in PAPER:
            raise Invalid(_l("Papel no válido: use 80mm o 58mm."), code="invalid_paper", field="paper")
        out["paper"] = values["paper"]
    profile_name = values.get("profile")
    if profile_name is not None:
        try:
            capabilities.get_profile(profile_name)
        except (KeyError, ValueError):
            raise Invalid(_l("Perfil de impresora desconocido: «%(p)s».", p=profile_name),
                          code="invalid_profile", field="profile") from None
        out["profile"] = profile_name
    if values.get("codepage") is not None:
        profile = capabilities.get_profile(profile_name or DEFAULTS["profile"])
        if values["codepage"] not in profile.get_code_pages():
            raise Invalid(_l("Página de códigos no disponible en ese perfil: «%(c)s».",
                             c=values["codepage"]), code="invalid_codepage", field="codepage")
        out["codepage"] = values["codepage"]
    if values.get("native_qr") is not None:
        out["native_qr"] = bool(values["native_qr"])
    return out
