"""The audit log page: who changed what and when, and the officials' preferential marks."""

import json

from flask import request

from shared import store
from shared.db import get_db
from shared.web import ADMINS, require

from .common import (
    bp,
    page,
)

# --- audit -------------------------------------------------------------------------------

@bp.get("/audit")
@require(*ADMINS)
def audit():
    """Show who changed what and when, and the preferential marks made by officials."""
    db = get_db()
    action = (request.args.get("action") or "").strip()[:40]
    entries = []
    for row in store.search_audit(db, action, 300):
        row["detail"] = json.loads(row["detail"] or "{}")
        entries.append(row)
    marks = []
    for row in store.preferential_marks(db, 200):
        row["data"] = json.loads(row["data"] or "{}")
        marks.append(row)
    return page("audit.html", entries=entries, marks=marks, action=action)
