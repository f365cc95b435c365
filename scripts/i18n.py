"""Refresh the English catalog: extract every Spanish msgid and merge translations.

    python scripts/i18n.py                # extract + update the .po (keeps translations)
    python scripts/i18n.py --apply F.json # also fill translations from a {msgid: English} file

Untranslated ids are listed at the end, so nothing is forgotten.
"""

import json
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "shared" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
POT = ROOT / "build" / "messages.pot"


def main(argv: list[str]) -> int:
    """Extract, update and optionally apply translations; print what is missing."""
    POT.parent.mkdir(exist_ok=True)
    dirs = [d for d in ("shared", "api", "server", "kiosk", "display", "desk", "printer", "admin",
                        "reports", "status", "portal") if (ROOT / d).is_dir()]
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
                    str(ROOT / "babel.cfg"), "-k", "_l", "--no-location", "--omit-header",
                    "-o", str(POT), *dirs], cwd=ROOT, check=True, capture_output=True)
    with POT.open("rb") as fh:
        template = read_po(fh)
    if PO.exists():
        with PO.open("rb") as fh:
            catalog = read_po(fh, locale="en")
    else:
        from babel.messages.catalog import Catalog

        catalog = Catalog(locale="en", project="Turnos")
    catalog.update(template, no_fuzzy_matching=True)
    if "--apply" in argv:
        extra = json.loads(Path(argv[argv.index("--apply") + 1]).read_text(encoding="utf-8"))
        for message in catalog:
            if message.id and message.id in extra:
                message.string = extra[message.id]
    PO.parent.mkdir(parents=True, exist_ok=True)
    with PO.open("wb") as fh:
        write_po(fh, catalog, omit_header=False, no_location=True, width=100)
    missing = [m.id for m in catalog if m.id and not m.string]
    for msgid in missing:
        print("untranslated:", msgid)
    print(f"{len(catalog)} messages, {len(missing)} untranslated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
