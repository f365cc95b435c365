"""Site layouts in TOML: sites, services, desks and priority categories.

``load-layout FILE`` creates or updates everything by code (it never deletes);
``export`` writes the same format back. See ``shared/layouts/demo.toml``.
"""

import json
import tomllib
from pathlib import Path

from . import channels, priority, rules, store
from .db import immediate
from .errors import DomainError, Invalid
from .hours import parse_hours
from .timefmt import is_valid_zone

DEMO_LAYOUT = Path(__file__).parent / "layouts" / "demo.toml"


class LayoutError(Invalid):
    """A layout file is malformed; the message names the place."""

    code = "invalid_layout"


def _need(table: dict, key: str, kind, where: str, default=...):
    """Return a typed value from a TOML table or raise a LayoutError naming it."""
    if key not in table:
        if default is ...:
            raise LayoutError(f"{where}: falta «{key}»")
        return default
    value = table[key]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise LayoutError(f"{where}.{key}: tipo no válido ({type(value).__name__})")
    return value


def parse(text: str) -> dict:  # noqa: C901
    """Parse and validate a layout document; return it normalised."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LayoutError(f"TOML no válido: {exc}") from exc
    categories = []
    for i, cat in enumerate(doc.get("priority_categories", [])):
        where = f"priority_categories[{i}]"
        code = _need(cat, "code", str, where)
        if not rules.is_code(code):
            raise LayoutError(f"{where}.code: «{code}» no es un código válido")
        categories.append({
            "code": code, "label": _need(cat, "label", str, where),
            "legal_note": _need(cat, "legal_note", str, where, ""),
            "pictogram": _need(cat, "pictogram", str, where, code),
            # The age from which the category applies (0: none), shown on the kiosk.
            "min_age": _need(cat, "min_age", int, where, 0) or None,
            "kiosk_visible": int(_need(cat, "kiosk_visible", bool, where, True)),
            "sort_order": _need(cat, "order", int, where, i + 1),
            "active": int(_need(cat, "active", bool, where, True)),
        })
    sites = []
    for i, raw in enumerate(doc.get("sites", [])):
        where = f"sites[{i}]"
        code = _need(raw, "code", str, where)
        if not rules.is_code(code):
            raise LayoutError(f"{where}.code: «{code}» no es un código válido")
        tz = _need(raw, "timezone", str, where, "America/Bogota")
        if not is_valid_zone(tz):
            raise LayoutError(f"{where}.timezone: zona horaria desconocida «{tz}»")
        policy = _need(raw, "policy", str, where, "strict")
        params = priority.validate(policy, _need(raw, "policy_params", dict, where, {}))
        site = {
            "code": code, "name": _need(raw, "name", str, where),
            "timezone": tz, "policy": policy, "policy_params": json.dumps(params),
            "entity_name": _need(raw, "entity_name", str, where, ""),
            "display_message": _need(raw, "display_message", str, where, ""),
            "opening_hours": json.dumps(parse_hours(_need(raw, "opening_hours", dict, where, {}))),
            "holidays": json.dumps(_need(raw, "holidays", list, where, [])),
            "services": [], "desks": [],
        }
        site.update(_privacy_settings(raw, where))
        if "max_wait_minutes" in raw:
            minutes = _need(raw, "max_wait_minutes", int, where)
            if not 0 <= minutes <= 600:
                raise LayoutError(f"{where}.max_wait_minutes: use de 0 (sin espera máxima) a 600")
            site["max_wait_seconds"] = minutes * 60 or None
        for j, sv in enumerate(raw.get("services", [])):
            w = f"{where}.services[{j}]"
            scode = _need(sv, "code", str, w)
            prefix = _need(sv, "prefix", str, w, scode.upper())
            if not rules.is_code(scode) or not rules.is_prefix(prefix):
                raise LayoutError(f"{w}: código o prefijo no válido (prefijo: 1 a 3 letras mayúsculas)")
            cap = _need(sv, "daily_cap", int, w, 0)
            site["services"].append({
                "code": scode, "prefix": prefix, "name": _need(sv, "name", str, w),
                "description": _need(sv, "description", str, w, ""),
                "requirements": _need(sv, "requirements", str, w, ""),
                "group_name": _need(sv, "group", str, w, ""),
                # The kiosk's picture of the service; empty: chosen from its name and group.
                "pictogram": _need(sv, "pictogram", str, w, ""),
                "target_wait_seconds": 60 * _need(sv, "target_wait_minutes", int, w, 15),
                "default_service_seconds": 60 * _need(sv, "default_service_minutes", int, w, 5),
                "daily_cap": cap or None,
                "opening_hours": json.dumps(parse_hours(_need(sv, "opening_hours", dict, w, {}))),
                "sort_order": _need(sv, "order", int, w, j + 1),
                "active": int(_need(sv, "active", bool, w, True)),
            })
        _check_prefixes(code, site["services"])
        service_codes = {s["code"] for s in site["services"]}
        for j, dk in enumerate(raw.get("desks", [])):
            w = f"{where}.desks[{j}]"
            dcode = str(_need(dk, "code", (str, int), w))
            serves = _need(dk, "services", list, w)
            unknown = [s for s in serves if s not in service_codes]
            if unknown:
                raise LayoutError(f"{w}.services: servicios desconocidos {unknown}")
            site["desks"].append({"code": dcode, "name": _need(dk, "name", str, w, f"Módulo {dcode}"),
                                  "services": serves,
                                  "active": int(_need(dk, "active", bool, w, True))})
        if "channels" in raw:
            site["channels"] = _channels(raw["channels"], service_codes, where)
        sites.append(site)
    return {"priority_categories": categories, "sites": sites}


def _channels(raw, service_codes: set[str], where: str) -> dict:
    """Check a site's ``[sites.channels]`` table (appointments, phones, notifications, public page)."""
    try:
        return channels.validate(raw, service_codes)
    except Invalid as exc:
        raise LayoutError(f"{where}.channels.{exc.details.get('field', '')}: {exc.message}") from None


def _check_prefixes(site_code: str, services: list[dict]) -> None:
    """Refuse services of one site whose ticket codes would clash (the rule of ``shared.rules``)."""
    try:
        rules.check_site_prefixes(site_code, services)
    except DomainError as exc:
        raise LayoutError(exc.message) from None


def check_against(db, layout: dict) -> None:
    """Refuse a parsed layout whose services would clash with those a site already has (by code)."""
    for site in layout["sites"]:
        existing = store.find_site(db, site["code"])
        if existing is None:
            continue
        merged = {s["code"]: {"code": s["code"], "prefix": s["prefix"]}
                  for s in store.list_services(db, existing["id"])}
        merged.update({s["code"]: s for s in site["services"]})
        _check_prefixes(site["code"], list(merged.values()))


def apply(db, layout: dict, clock) -> dict:
    """Create or update what a parsed layout describes, in one transaction."""
    counts = {"sites": 0, "services": 0, "desks": 0, "priority_categories": 0}
    with immediate(db):
        for cat in layout["priority_categories"]:
            store.upsert_category(db, cat)
            counts["priority_categories"] += 1
        for site in layout["sites"]:
            values = {k: v for k, v in site.items() if k not in ("services", "desks", "channels")}
            site_id = store.upsert_site(db, values, clock.now_ms())
            counts["sites"] += 1
            ids = {}
            for service in site["services"]:
                ids[service["code"]] = store.upsert_service(db, site_id, service)
                counts["services"] += 1
            for desk in site["desks"]:
                desk_id = store.upsert_desk(db, site_id, desk)
                store.set_desk_services(db, desk_id, [ids[c] for c in desk["services"]])
                counts["desks"] += 1
            if "channels" in site:
                channels.save(db, store.site_by_id(db, site_id), site["channels"],
                              site["channels"]["appointments"].get("queue_class", "slot"))
    return counts


def load_file(db, path: str | Path, clock) -> dict:
    """Read, validate (the file, then against what is stored) and apply a layout file."""
    layout = parse(Path(path).read_text(encoding="utf-8"))
    check_against(db, layout)
    return apply(db, layout, clock)


def _toml_value(value) -> str:
    """Render a Python value as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(type(value))


def _channels_lines(db, site: dict) -> list[str]:
    """Return a site's ``channels`` line when it has channel settings of its own."""
    row = store.site_channels(db, site["id"])
    if row is None and site.get("appointment_class", "slot") == "slot":
        return []
    table = channels.to_layout(channels.settings(db, site))
    return [f"channels = {_toml_value(table)}"] if table else []


def export(db) -> str:
    """Write every site, service, desk and category as a layout document."""
    lines = ["# Turnos layout (load with: python run.py load-layout FILE)", ""]
    for cat in store.list_categories(db):
        lines += ["[[priority_categories]]"]
        for key, value in (("code", cat["code"]), ("label", cat["label"]),
                           ("legal_note", cat["legal_note"]), ("pictogram", cat["pictogram"]),
                           ("min_age", cat["min_age"] or 0),
                           ("kiosk_visible", bool(cat["kiosk_visible"])),
                           ("order", cat["sort_order"]), ("active", bool(cat["active"]))):
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    for site in store.list_sites(db):
        lines += ["[[sites]]"]
        for key in ("code", "name", "timezone", "entity_name", "display_message", "policy"):
            lines.append(f"{key} = {_toml_value(site[key])}")
        lines.append(f"policy_params = {_toml_value(json.loads(site['policy_params']))}")
        lines.append(f"opening_hours = {_toml_value(json.loads(site['opening_hours']))}")
        lines.append(f"holidays = {_toml_value(json.loads(site['holidays']))}")
        if site.get("max_wait_seconds"):
            lines.append(f"max_wait_minutes = {site['max_wait_seconds'] // 60}")
        # Privacy settings are written only when set, as a layout that omits them keeps them.
        for key in ("id_capture", "privacy_notice", "retention_days"):
            if site.get(key):
                value = bool(site[key]) if key == "id_capture" else site[key]
                lines.append(f"{key} = {_toml_value(value)}")
        lines += _channels_lines(db, site)
        lines.append("")
        for sv in store.list_services(db, site["id"]):
            lines.append("[[sites.services]]")
            for key, value in (("code", sv["code"]), ("prefix", sv["prefix"]), ("name", sv["name"]),
                               ("description", sv["description"]),
                               ("requirements", sv["requirements"]), ("group", sv["group_name"]),
                               ("pictogram", sv["pictogram"]),
                               ("target_wait_minutes", sv["target_wait_seconds"] // 60),
                               ("default_service_minutes", sv["default_service_seconds"] // 60),
                               ("daily_cap", sv["daily_cap"] or 0),
                               ("opening_hours", json.loads(sv["opening_hours"])),
                               ("order", sv["sort_order"]), ("active", bool(sv["active"]))):
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
        for desk in store.list_desks(db, site["id"]):
            lines.append("[[sites.desks]]")
            lines.append(f"code = {_toml_value(desk['code'])}")
            lines.append(f"name = {_toml_value(desk['name'])}")
            lines.append(f"services = {_toml_value(desk['services'])}")
            lines.append(f"active = {_toml_value(bool(desk['active']))}")
            lines.append("")
    return "\n".join(lines)


def _privacy_settings(raw: dict, where: str) -> dict:
    """Return a site's ID capture, privacy notice and retention, only for the keys present."""
    out = {}
    if "id_capture" in raw:
        out["id_capture"] = int(_need(raw, "id_capture", bool, where))
    if "privacy_notice" in raw:
        out["privacy_notice"] = _need(raw, "privacy_notice", str, where)
    if out.get("id_capture") and not out.get("privacy_notice", "").strip():
        raise LayoutError(f"{where}.privacy_notice: pedir el documento exige un aviso de privacidad")
    if "retention_days" in raw:
        days = _need(raw, "retention_days", int, where)
        if not 0 <= days <= 3650:
            raise LayoutError(f"{where}.retention_days: use de 0 (conservar todo) a 3650 días")
        out["retention_days"] = days or None
    return out
