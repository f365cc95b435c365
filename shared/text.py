"""What text a person may type into a name or a note, checked the same way by the API and the forms.

A name is shown on screens, tickets and lists: control characters (NUL, BEL,
escape sequences) would garble a printer or a log, and bidirectional
overrides (U+202E) would make "Kiosco 1" read as something else. A lone
surrogate cannot be stored at all (it is not valid UTF-8).
"""

import re

# C0 controls but tab and newline, DEL and the C1 controls; bidirectional embeddings,
# overrides and isolates, and the invisible marks that steer them; lone surrogates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                     "\u2066-\u2069\ud800-\udfff]")
_LINE_BREAKS = re.compile("[\n\t]")


def unsafe(value: str, *, multiline: bool = False) -> bool:
    """Tell whether a text holds characters a name (or, multiline, a note) may not contain."""
    if value.isascii() and value.isprintable():
        return False
    if _UNSAFE.search(value):
        return True
    return not multiline and bool(_LINE_BREAKS.search(value))


def has_surrogate(value: str) -> bool:
    """Tell whether a text holds a lone surrogate (it cannot be encoded, stored or printed)."""
    return not value.isascii() and re.search("[\ud800-\udfff]", value) is not None


def storable(value: str) -> bool:
    """Tell whether either database can store a text: no lone surrogate, no NUL (PostgreSQL refuses it)."""
    return "\x00" not in value and not has_surrogate(value)
