"""A waiting-room display's settings, read from ``devices.config`` (JSON).

The administration pages edit these keys; unknown keys are ignored and a key
with a wrong value falls back to its default, so a bad edit never blanks a
screen.

``history_length``
    How many earlier calls are listed under the current one: a positive
    integer (default 6); more than 10 are shown as 10, the most a 1080-line
    screen shows legibly from 6 m.
``services``
    A list of service codes (``["A", "B"]``, matched without regard to case);
    the screen shows only calls of these services. Empty or missing: every
    service of the site. A code the site does not have matches nothing.
``desks``
    A list of desk codes (``["1", "2"]``); the screen shows only calls to these
    desks. Empty or missing: every desk. With both lists a call must match
    both (a zone of the building: "Hacienda, modules 1 and 2").
``voice``
    How a call is announced after the chime: ``"server"`` (default: Spanish
    speech rendered by espeak-ng on the server and played as a WAV),
    ``"browser"`` (the browser's own Spanish voice through speechSynthesis;
    falls back to ``"server"`` when the browser has none) or ``"chime"`` (the
    chime alone).

Example: ``{"history_length": 5, "services": ["A", "B"], "desks": [], "voice": "server"}``
"""

from dataclasses import dataclass, field

VOICES = ("server", "browser", "chime")
DEFAULT_VOICE = "server"
DEFAULT_HISTORY = 6
MAX_HISTORY = 10
_MAX_ZONE_ITEMS = 100
_MAX_CODE_LENGTH = 32


@dataclass
class DisplayConfig:
    """What one screen shows and how it speaks."""

    history_length: int = DEFAULT_HISTORY
    services: list[str] = field(default_factory=list)
    desks: list[str] = field(default_factory=list)
    voice: str = DEFAULT_VOICE

    def in_zone(self, service_code: str | None, desk_code: str | None) -> bool:
        """Tell whether a call of this service to this desk belongs on the screen."""
        if self.services and service_code not in self.services:
            return False
        return not self.desks or desk_code in self.desks

    def to_json(self) -> dict:
        """Return the settings as the page receives them."""
        return {"history_length": self.history_length, "services": list(self.services),
                "desks": list(self.desks), "voice": self.voice}


def _codes(value) -> list[str]:
    """Return a list of short text codes, or an empty list for anything else."""
    if not isinstance(value, list) or len(value) > _MAX_ZONE_ITEMS:
        return []
    codes = []
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        if isinstance(item, str) and 0 < len(item.strip()) <= _MAX_CODE_LENGTH:
            code = item.strip()
            if code not in codes:
                codes.append(code)
    return codes


def parse(raw) -> DisplayConfig:
    """Return a display's settings from its stored configuration, with defaults for bad values."""
    raw = raw if isinstance(raw, dict) else {}
    history = raw.get("history_length")
    if isinstance(history, bool) or not isinstance(history, int) or history < 1:
        history = DEFAULT_HISTORY
    history = min(history, MAX_HISTORY)
    voice = raw.get("voice")
    if voice not in VOICES:
        voice = DEFAULT_VOICE
    return DisplayConfig(history_length=history, services=_codes(raw.get("services")),
                         desks=_codes(raw.get("desks")), voice=voice)
