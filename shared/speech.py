"""Spoken call announcements for the waiting-room display.

Headless or kiosk Chromium often has no speechSynthesis voices, so the server
renders each announcement to a WAV file with espeak-ng and the display page
plays it with an ``<audio>`` element: first the chime, then the phrase.

Pronunciation choices (the listener must match what is printed on the ticket):

* Letters of the ticket code are spoken by their Spanish names, one by one:
  ``A`` "a", ``B`` "be", ``C`` "ce", ... ``P`` "pe". Where two letter names
  sound the same in Latin-American Spanish we use the name Colombians use to
  tell them apart: ``V`` is "ve corta" (plain "ve" sounds like "be"), ``W`` is
  "doble ve" and ``Y`` is "i griega" (better known than the newer "ye").
* Digits of the ticket number are spoken one by one ("A-007" -> "a, cero cero
  siete") because citizens compare them with their paper, digit by digit.
* Numbers inside a desk name are spoken as a whole Spanish number ("Ventanilla
  12" -> "ventanilla doce"); a desk name that is only a number becomes
  "módulo N".
* Commas in the phrase make espeak-ng pause, which keeps "a, cero" from
  running together into "acero".

The waiting-room screen and the kiosk's spoken guide share one voice and
one cache per app (``init_app``, ``current_cache``); the faces decide how the
files are served.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
import struct
import subprocess
import tempfile
import threading
import wave
from pathlib import Path

from flask import current_app

__all__ = [
    "LETTER_NAMES",
    "SpeechCache",
    "SpeechUnavailable",
    "call_phrase",
    "chime_wav",
    "number_to_words",
]

# Spanish letter names, chosen for a listener in Colombia (see module docstring).
LETTER_NAMES: dict[str, str] = {
    "A": "a",
    "B": "be",
    "C": "ce",
    "D": "de",
    "E": "e",
    "F": "efe",
    "G": "ge",
    "H": "hache",
    "I": "i",
    "J": "jota",
    "K": "ka",
    "L": "ele",
    "M": "eme",
    "N": "ene",
    "Ñ": "eñe",
    "O": "o",
    "P": "pe",
    "Q": "cu",
    "R": "erre",
    "S": "ese",
    "T": "te",
    "U": "u",
    "V": "ve corta",
    "W": "doble ve",
    "X": "equis",
    "Y": "i griega",
    "Z": "zeta",
}

_UNITS = ["cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve"]
_TEENS = {
    10: "diez", 11: "once", 12: "doce", 13: "trece", 14: "catorce", 15: "quince",
    16: "dieciséis", 17: "diecisiete", 18: "dieciocho", 19: "diecinueve",
}
_TWENTIES = {
    20: "veinte", 21: "veintiuno", 22: "veintidós", 23: "veintitrés", 24: "veinticuatro",
    25: "veinticinco", 26: "veintiséis", 27: "veintisiete", 28: "veintiocho", 29: "veintinueve",
}
_TENS = {
    3: "treinta", 4: "cuarenta", 5: "cincuenta", 6: "sesenta",
    7: "setenta", 8: "ochenta", 9: "noventa",
}
_HUNDREDS = {
    1: "ciento", 2: "doscientos", 3: "trescientos", 4: "cuatrocientos", 5: "quinientos",
    6: "seiscientos", 7: "setecientos", 8: "ochocientos", 9: "novecientos",
}

# "A-007", "PA-007", "a007", "PA 7": letters, optional separator, digits.
_CODE_RE = re.compile(r"^\s*(?:([^\W\d_]+)\s*[-\s]?\s*)?(\d+)\s*$")
_MAX_PHRASE_CHARS = 500


class SpeechUnavailable(RuntimeError):
    """Speech could not be generated (program missing, timed out or failed); play the chime alone."""


def number_to_words(n: int) -> str:
    """Return the Spanish words for an integer from 0 to 999, e.g. 21 -> "veintiuno"."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"expected an int, got {type(n).__name__}")
    if not 0 <= n <= 999:
        raise ValueError(f"number out of range 0..999: {n}")
    if n < 10:
        return _UNITS[n]
    if n < 20:
        return _TEENS[n]
    if n < 30:
        return _TWENTIES[n]
    if n < 100:
        tens, units = divmod(n, 10)
        return _TENS[tens] if units == 0 else f"{_TENS[tens]} y {_UNITS[units]}"
    if n == 100:
        return "cien"
    hundreds, rest = divmod(n, 100)
    return _HUNDREDS[hundreds] if rest == 0 else f"{_HUNDREDS[hundreds]} {number_to_words(rest)}"


def _spell_digits(digits: str) -> str:
    """Return the digits of a string spoken one by one ("007" -> "cero cero siete")."""
    return " ".join(_UNITS[int(d)] for d in digits)


def _spell_letters(letters: str) -> str:
    """Return the Spanish names of the letters of a ticket prefix ("PA" -> "pe a")."""
    names = []
    for letter in letters.upper():
        if letter not in LETTER_NAMES:
            raise ValueError(f"unsupported letter in ticket code: {letter!r}")
        names.append(LETTER_NAMES[letter])
    return " ".join(names)


def _desk_words(desk_name: str) -> str:
    """Return a desk name with its numbers as Spanish words ("Módulo 3" -> "módulo tres")."""
    name = " ".join(desk_name.split())
    if not name:
        return ""
    if name.isdigit():
        name = f"módulo {name}"

    def number(match: re.Match[str]) -> str:
        """Return one number of the desk name as words."""
        digits = match.group(0)
        value = int(digits)
        # Leading zeros ("07") or numbers above 999 are read digit by digit.
        if value > 999 or (len(digits) > 1 and digits[0] == "0"):
            return f" {_spell_digits(digits)} "
        return f" {number_to_words(value)} "

    name = re.sub(r"\d+", number, name)
    return " ".join(name.split()).lower()


def call_phrase(code: str, desk_name: str, *, preferential: bool = False) -> str:
    """Return the Spanish sentence announcing a call, such as "Turno a, cero cero siete, módulo tres"."""
    match = _CODE_RE.match(code or "")
    if not match:
        raise ValueError(f"not a ticket code: {code!r}")
    letters, digits = match.groups()
    parts = ["Turno"]
    spoken_code = _spell_digits(digits)
    if letters:
        # The comma makes espeak-ng pause, so the letter stands out on its own.
        parts[0] = f"Turno {_spell_letters(letters)},"
    parts.append(spoken_code + ",")
    if preferential:
        parts.append("preferencial,")
    desk = _desk_words(desk_name or "")
    if desk:
        parts.append(desk)
    return " ".join(parts).rstrip(",") + "."


class SpeechCache:
    """WAV files of spoken phrases rendered by espeak-ng, generated once per (phrase, voice, speed)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        voice: str = "es",
        speed: int = 150,
        espeak: str = "espeak-ng",
        timeout: float = 20.0,
    ) -> None:
        """Set up a cache in ``directory`` (created on first use) for one voice and speed."""
        if not voice or voice.startswith("-") or any(c.isspace() for c in voice):
            raise ValueError(f"invalid espeak-ng voice: {voice!r}")
        if isinstance(speed, bool) or not isinstance(speed, int) or not 80 <= speed <= 450:
            raise ValueError(f"speed must be an int in words per minute, 80..450: {speed!r}")
        self.directory = Path(directory)
        self.voice = voice
        self.speed = speed
        self.espeak = espeak
        self.timeout = timeout
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def available(self) -> bool:
        """Tell whether the espeak-ng program can be found (on PATH, or at the given path)."""
        return shutil.which(self.espeak) is not None

    def path_for(self, phrase: str) -> Path:
        """Return where the WAV for ``phrase`` is (or would be) cached, without generating it."""
        key = "\x00".join([self.voice, str(self.speed), _normalise(phrase)])
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        return self.directory / f"speech-{digest}.wav"

    def wav_for(self, phrase: str) -> Path:
        """Return the cached WAV for ``phrase``, generating it with espeak-ng the first time.

        The command is ``espeak-ng -v VOICE -s SPEED -b 1 -w TEMPFILE -- PHRASE``
        (``-b 1``: the text is UTF-8; ``--``: a phrase starting with "-" is text,
        not an option). Raises SpeechUnavailable if espeak-ng is missing, times
        out or fails; callers then play the chime alone.
        """
        phrase = _normalise(phrase)
        if not phrase:
            raise ValueError("empty phrase")
        if len(phrase) > _MAX_PHRASE_CHARS:
            raise ValueError(f"phrase longer than {_MAX_PHRASE_CHARS} characters")
        target = self.path_for(phrase)
        if _is_complete_wav(target):
            return target
        # One generation per phrase within this process; other processes may
        # race us, which is harmless because each writes its own temp file and
        # os.replace() swaps a complete file in atomically.
        with self._lock_for(target.name):
            if _is_complete_wav(target):
                return target
            self._generate(phrase, target)
        return target

    def _lock_for(self, name: str) -> threading.Lock:
        """Return the lock that serialises generation of one cache file."""
        with self._locks_guard:
            return self._locks.setdefault(name, threading.Lock())

    def _generate(self, phrase: str, target: Path) -> None:
        """Render ``phrase`` into ``target`` through a temporary file; raise SpeechUnavailable on failure."""
        program = shutil.which(self.espeak)
        if program is None:
            raise SpeechUnavailable(f"{self.espeak!r} not found; install espeak-ng "
                                    "(Debian: apt-get install espeak-ng)")
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.directory, prefix=f".{target.stem}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            args = [
                program, "-v", self.voice, "-s", str(self.speed), "-b", "1",
                "-w", str(tmp), "--", phrase,
            ]
            try:
                result = subprocess.run(
                    args, stdin=subprocess.DEVNULL, capture_output=True,
                    timeout=self.timeout, check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise SpeechUnavailable(f"espeak-ng timed out after {self.timeout:g} s") from exc
            except OSError as exc:
                raise SpeechUnavailable(f"could not run espeak-ng: {exc}") from exc
            if result.returncode != 0:
                detail = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
                raise SpeechUnavailable(f"espeak-ng failed (exit {result.returncode}): {detail[:300]}")
            if not _is_complete_wav(tmp):
                raise SpeechUnavailable("espeak-ng produced no audio")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)


def _normalise(phrase: str) -> str:
    """Return ``phrase`` with runs of whitespace collapsed, so equal phrases share a cache file."""
    return " ".join((phrase or "").split())


def _is_complete_wav(path: Path) -> bool:
    """Tell whether ``path`` is a readable WAV file with at least one audio frame."""
    try:
        with wave.open(str(path), "rb") as wav:
            return wav.getnframes() > 0
    except (OSError, EOFError, wave.Error):
        return False


# Chime parameters; the file name carries a version so a change regenerates it.
_CHIME_NAME = "chime-880-660-v1.wav"
_CHIME_RATE = 22050
_CHIME_TONES = ((880.0, 0.0), (660.0, 0.4))  # (frequency in Hz, start in s)
_CHIME_TONE_SECONDS = 0.4
_CHIME_SECONDS = 0.8
_CHIME_PEAK = 0.5  # of full scale: soft, leaves headroom before the speech


def _chime_samples() -> list[int]:
    """Return the 16-bit samples of a soft two-tone (880 Hz, 660 Hz) bell chime."""
    total = int(_CHIME_SECONDS * _CHIME_RATE)
    attack = 0.012
    mix = [0.0] * total
    for freq, start in _CHIME_TONES:
        first = int(start * _CHIME_RATE)
        length = int(_CHIME_TONE_SECONDS * _CHIME_RATE)
        for i in range(length):
            t = i / _CHIME_RATE
            # Raised-cosine attack, exponential decay, and a short cosine fade
            # to exactly zero so neither tone ends with a click.
            env = 0.5 - 0.5 * math.cos(math.pi * t / attack) if t < attack else 1.0
            env *= math.exp(-t / 0.13)
            remaining = _CHIME_TONE_SECONDS - t
            if remaining < 0.03:
                env *= 0.5 - 0.5 * math.cos(math.pi * remaining / 0.03)
            # A quiet second harmonic makes the tone warmer, more bell-like.
            value = math.sin(2 * math.pi * freq * t) + 0.25 * math.sin(4 * math.pi * freq * t)
            mix[first + i] += env * value / 1.25
    return [round(_CHIME_PEAK * 32767 * max(-1.0, min(1.0, x))) for x in mix]


def chime_wav(directory: str | os.PathLike[str]) -> Path:
    """Return the path of the two-tone chime WAV in ``directory``, writing it the first time."""
    directory = Path(directory)
    target = directory / _CHIME_NAME
    if _is_complete_wav(target):
        return target
    directory.mkdir(parents=True, exist_ok=True)
    samples = _chime_samples()
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{target.stem}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with wave.open(str(tmp), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(_CHIME_RATE)
            wav.writeframes(struct.pack(f"<{len(samples)}h", *samples))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


VOICE = "es-419"  # espeak-ng's Latin-American Spanish ("cero" with /s/, as in Colombia)
SPEED = 140       # words per minute: a little slower than espeak's default, for a hall
EXTENSION = "turnos.speech"


def init_app(app) -> None:
    """Give an app its speech cache (``<instance>/audio``), shared by the screens and the kiosk."""
    app.extensions[EXTENSION] = SpeechCache(Path(app.config["INSTANCE"]) / "audio", voice=VOICE,
                                            speed=SPEED)


def current_cache(app=None) -> SpeechCache | None:
    """Return the app's speech cache (this request's app unless given), or None."""
    return (app or current_app).extensions.get(EXTENSION)


def available() -> bool:
    """Tell whether the server can speak (espeak-ng installed)."""
    cache = current_cache()
    return bool(cache and cache.available())
