"""Tests for display.speech: call phrases, espeak-ng WAV cache and the chime."""

from __future__ import annotations

import array
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import wave
from pathlib import Path

import pytest

# The project is not installed into the test environment: import it from the tree.
_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from shared import speech  # noqa: E402
from shared.speech import (  # noqa: E402
    SpeechCache,
    SpeechUnavailable,
    call_phrase,
    chime_wav,
    number_to_words,
)

PHRASE = call_phrase("A-007", "Módulo 3")


# --------------------------------------------------------------------------
# helpers


def _ci() -> bool:
    """Tell whether we run in CI, where missing tools are failures, not skips."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_program(name: str, hint: str) -> str:
    """Return the path of ``name``; skip the test if missing, or fail it under CI."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed ({hint})"
        if _ci():
            pytest.fail(f"{message}; CI is set, so this is a failure, not a skip")
        pytest.skip(message)
    return path


def require_sox() -> None:
    """Skip a sox cross-check when sox is not installed (it is optional, even under CI)."""
    if shutil.which("sox") is None:
        pytest.skip("sox is not installed: the optional cross-check is skipped (apt-get install sox)")


@pytest.fixture
def espeak() -> str:
    """Path of espeak-ng (skips locally, fails under CI when missing)."""
    return require_program("espeak-ng", "Debian: apt-get install espeak-ng")


@pytest.fixture
def run_calls(monkeypatch):
    """Record every argument list speech.py passes to subprocess.run, then run it for real."""
    calls: list[list[str]] = []
    real_run = subprocess.run

    def spy(args, *a, **kw):
        calls.append(list(args))
        return real_run(args, *a, **kw)

    monkeypatch.setattr(speech.subprocess, "run", spy)
    return calls


def read_wav(path: Path) -> tuple:
    """Return the parameters and 16-bit mono samples of a WAV file."""
    with wave.open(str(path), "rb") as wav:
        params = wav.getparams()
        frames = wav.readframes(params.nframes)
    assert params.nchannels == 1, params
    assert params.sampwidth == 2, params
    samples = array.array("h")
    samples.frombytes(frames)
    if sys.byteorder == "big":  # WAV data is little-endian
        samples.byteswap()
    return params, samples


def rms(samples) -> float:
    """Root mean square of 16-bit samples, as a fraction of full scale."""
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768


def peak(samples) -> float:
    """Largest absolute 16-bit sample, as a fraction of full scale."""
    return max(abs(s) for s in samples) / 32768


def sox_stat(path: Path) -> dict[str, float]:
    """Return sox's `stat` figures for a file (sox prints them on stderr)."""
    out = subprocess.run(
        ["sox", str(path), "-n", "stat"], capture_output=True, text=True, timeout=30, check=True
    ).stderr
    stats = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        try:
            stats[" ".join(key.split())] = float(value)
        except ValueError:
            pass
    return stats


def zero_crossing_hz(samples, rate: int) -> float:
    """Estimate the fundamental frequency of a tone from its rising zero crossings."""
    rising = sum(1 for a, b in zip(samples, samples[1:]) if a < 0 <= b)
    return rising * rate / len(samples)


def phonemes(espeak_path: str, voice: str, text: str) -> str:
    """Return espeak-ng's phoneme transcription of ``text`` with ``voice`` (no audio)."""
    return subprocess.run(
        [espeak_path, "-v", voice, "-q", "-x", "--", text],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout


# --------------------------------------------------------------------------
# phrases and numbers (no espeak-ng needed)


def test_general_call_phrase():
    assert PHRASE == "Turno a, cero cero siete, módulo tres."
    assert "cero cero siete" in PHRASE
    assert "módulo tres" in PHRASE
    assert "preferencial" not in PHRASE


def test_preferential_call_phrase_spells_prefix_and_says_preferencial_after_code():
    phrase = call_phrase("PA-007", "Módulo 3", preferential=True)
    assert phrase == "Turno pe a, cero cero siete, preferencial, módulo tres."
    assert phrase.index("cero cero siete") < phrase.index("preferencial") < phrase.index("módulo")


def test_desk_numbers_are_words():
    assert call_phrase("B-120", "Ventanilla 12").endswith("ventanilla doce.")
    assert "uno dos cero" in call_phrase("B-120", "Ventanilla 12")  # code stays digit by digit


def test_bare_desk_number_becomes_modulo():
    assert call_phrase("C-001", "3") == "Turno ce, cero cero uno, módulo tres."
    assert call_phrase("C-001", " 21 ").endswith("módulo veintiuno.")


@pytest.mark.parametrize(
    "code, letters",
    [("A-1", "a"), ("b-1", "be"), ("PB-1", "pe be"), ("V-1", "ve corta"), ("W-1", "doble ve"),
     ("Ñ-1", "eñe"), ("A1", "a"), ("PA 1", "pe a")],
)
def test_letters_spoken_by_spanish_name(code, letters):
    assert call_phrase(code, "1") == f"Turno {letters}, uno, módulo uno."


def test_code_without_letters_and_desk_without_name():
    assert call_phrase("007", "") == "Turno cero cero siete."


@pytest.mark.parametrize("bad", ["", "A-", "-007", "A-00x", "É-001", "A-0-7"])
def test_bad_codes_are_rejected(bad):
    with pytest.raises(ValueError):
        call_phrase(bad, "1")


@pytest.mark.parametrize(
    "n, words",
    [(0, "cero"), (1, "uno"), (10, "diez"), (15, "quince"), (16, "dieciséis"), (20, "veinte"),
     (21, "veintiuno"), (22, "veintidós"), (30, "treinta"), (31, "treinta y uno"),
     (99, "noventa y nueve"), (100, "cien"), (101, "ciento uno"), (115, "ciento quince"),
     (121, "ciento veintiuno"), (200, "doscientos"), (500, "quinientos"),
     (555, "quinientos cincuenta y cinco"), (700, "setecientos"), (900, "novecientos"),
     (999, "novecientos noventa y nueve")],
)
def test_number_to_words(n, words):
    assert number_to_words(n) == words


def test_number_to_words_whole_range_is_distinct_and_bounded():
    words = [number_to_words(n) for n in range(1000)]
    assert len(set(words)) == 1000
    assert all(re.fullmatch(r"[a-záéíóúñ ]+", w) for w in words)
    for bad in (-1, 1000):
        with pytest.raises(ValueError):
            number_to_words(bad)
    with pytest.raises(TypeError):
        number_to_words(3.0)


# --------------------------------------------------------------------------
# chime (pure Python, no external tools)


def test_chime_is_a_soft_two_tone_wav(tmp_path):
    path = chime_wav(tmp_path)
    params, samples = read_wav(path)
    assert params.framerate == 22050
    assert 0.75 <= params.nframes / params.framerate <= 0.85
    assert rms(samples) > 0.05, "chime is (nearly) silent"
    assert 0.2 < peak(samples) < 0.95, "chime should be audible but not clipped"
    # Soft attack and decay: no click at either end.
    assert max(abs(s) for s in samples[:20]) < 1000
    assert max(abs(s) for s in samples[-20:]) < 200
    # First half ~880 Hz, second half ~660 Hz.
    half = len(samples) // 2
    assert zero_crossing_hz(samples[:half], params.framerate) == pytest.approx(880, rel=0.05)
    assert zero_crossing_hz(samples[half:], params.framerate) == pytest.approx(660, rel=0.05)


def test_chime_written_once(tmp_path):
    first = chime_wav(tmp_path)
    mtime = first.stat().st_mtime_ns
    assert chime_wav(tmp_path) == first
    assert first.stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir()] == [first.name]


def test_chime_cross_checked_with_sox(tmp_path):
    require_sox()
    path = chime_wav(tmp_path)
    _, samples = read_wav(path)
    stats = sox_stat(path)
    assert stats["Length (seconds)"] == pytest.approx(0.8, abs=0.01)
    assert stats["RMS amplitude"] == pytest.approx(rms(samples), rel=0.02)


# --------------------------------------------------------------------------
# espeak-ng speech


def test_spoken_call_is_audible_spanish_speech(tmp_path, espeak, run_calls):
    cache = SpeechCache(tmp_path)
    assert cache.available()
    path = cache.wav_for(PHRASE)

    assert path.parent == tmp_path and path.is_file()
    params, samples = read_wav(path)
    seconds = params.nframes / params.framerate
    # ~7 words at 150 words per minute: a few seconds, certainly over one.
    assert 1.0 < seconds < 10.0, seconds
    assert rms(samples) > 0.02, f"speech is (nearly) silent: rms={rms(samples):.4f}"
    assert peak(samples) > 0.2, f"speech is too quiet: peak={peak(samples):.3f}"

    # It was rendered once, with the Spanish voice, at the configured speed.
    assert len(run_calls) == 1
    args = run_calls[0]
    assert args[args.index("-v") + 1] == "es"
    assert args[args.index("-s") + 1] == "150"
    assert args[-1] == PHRASE


def test_spanish_voice_reads_the_phrase_as_spanish(espeak):
    spanish = phonemes(espeak, "es", PHRASE)
    english = phonemes(espeak, "en", PHRASE)
    assert spanish != english
    # Castilian "cero": /θ/ (espeak "T") and the alveolar tap /ɾ/ ("**");
    # "siete" as /sjete/; intervocalic "d" in "módulo" as the fricative /ð/ ("D").
    assert "T'e**o" in spanish, spanish
    assert "sj'ete" in spanish, spanish
    assert "m'oDulo" in spanish, spanish
    # The English voice has none of these Spanish sounds for the same text.
    assert "**" not in english and "sj'ete" not in english, english


def test_second_call_reuses_cached_file(tmp_path, espeak, run_calls):
    cache = SpeechCache(tmp_path)
    first = cache.wav_for(PHRASE)
    mtime = first.stat().st_mtime_ns
    # A new cache object on the same directory (as after a restart) also reuses it.
    for again in (cache, SpeechCache(tmp_path)):
        assert again.wav_for(PHRASE) == first
        assert again.wav_for("  " + PHRASE.replace(" ", "  ") + "\n") == first
    assert first.stat().st_mtime_ns == mtime
    assert len(run_calls) == 1


def test_cache_key_includes_voice_and_speed(tmp_path, espeak, run_calls):
    paths = {
        SpeechCache(tmp_path).wav_for(PHRASE),
        SpeechCache(tmp_path, speed=170).wav_for(PHRASE),
        SpeechCache(tmp_path, voice="es-419").wav_for(PHRASE),
        SpeechCache(tmp_path).wav_for(call_phrase("A-008", "Módulo 3")),
    }
    assert len(paths) == 4
    assert len(run_calls) == 4


def test_concurrent_requests_give_one_complete_file(tmp_path, espeak, run_calls):
    shared = SpeechCache(tmp_path)
    # Half the threads share one cache; the others each have their own, as
    # separate worker processes would, so they really race on os.replace().
    caches = [shared] * 4 + [SpeechCache(tmp_path) for _ in range(4)]
    barrier = threading.Barrier(len(caches))
    results: list[Path] = []
    errors: list[BaseException] = []

    def worker(cache):
        try:
            barrier.wait(timeout=10)
            results.append(cache.wav_for(PHRASE))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(c,)) for c in caches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(results) == len(caches) and len(set(results)) == 1
    params, samples = read_wav(results[0])
    assert params.nframes / params.framerate > 1.0 and rms(samples) > 0.02
    # No temp files left behind; the shared cache generated at most once.
    assert [p.name for p in tmp_path.iterdir()] == [results[0].name]
    assert 1 <= len(run_calls) <= 5


def test_speech_cross_checked_with_sox(tmp_path, espeak):
    require_sox()
    path = SpeechCache(tmp_path).wav_for(PHRASE)
    params, samples = read_wav(path)
    stats = sox_stat(path)
    assert stats["Length (seconds)"] == pytest.approx(params.nframes / params.framerate, abs=0.01)
    assert stats["RMS amplitude"] == pytest.approx(rms(samples), rel=0.02)
    assert stats["Maximum amplitude"] > 0.2
    assert stats["RMS amplitude"] > 0.02


# --------------------------------------------------------------------------
# failures (fake programs; no espeak-ng needed)


def _fake_program(tmp_path: Path, body: str) -> str:
    """Write an executable shell script standing in for espeak-ng and return its path."""
    program = tmp_path / "fake-espeak"
    program.write_text("#!/bin/sh\n" + body + "\n")
    program.chmod(0o755)
    return str(program)


def test_missing_program_is_unavailable(tmp_path):
    cache = SpeechCache(tmp_path / "cache", espeak="espeak-ng-not-installed-here")
    assert not cache.available()
    with pytest.raises(SpeechUnavailable, match="not found"):
        cache.wav_for(PHRASE)


def test_failing_program_is_unavailable(tmp_path):
    program = _fake_program(tmp_path, 'echo "voice not found" >&2; exit 1')
    cache = SpeechCache(tmp_path / "cache", espeak=program)
    assert cache.available()
    with pytest.raises(SpeechUnavailable, match="exit 1.*voice not found"):
        cache.wav_for(PHRASE)
    assert list((tmp_path / "cache").iterdir()) == []


def test_program_writing_no_audio_is_unavailable(tmp_path):
    cache = SpeechCache(tmp_path / "cache", espeak=_fake_program(tmp_path, "exit 0"))
    with pytest.raises(SpeechUnavailable, match="no audio"):
        cache.wav_for(PHRASE)
    assert list((tmp_path / "cache").iterdir()) == []


def test_hanging_program_times_out(tmp_path):
    sleeper = f"exec {shlex.quote(sys.executable)} -c 'import time; time.sleep(30)'"
    cache = SpeechCache(tmp_path / "cache", espeak=_fake_program(tmp_path, sleeper), timeout=0.5)
    with pytest.raises(SpeechUnavailable, match="timed out"):
        cache.wav_for(PHRASE)
    assert list((tmp_path / "cache").iterdir()) == []


def test_invalid_arguments_are_rejected(tmp_path):
    for kwargs in ({"voice": ""}, {"voice": "-x"}, {"voice": "es es"}, {"speed": 10}, {"speed": "150"}):
        with pytest.raises(ValueError):
            SpeechCache(tmp_path, **kwargs)
    with pytest.raises(ValueError):
        SpeechCache(tmp_path).wav_for("   ")


def test_phrase_starting_with_dash_is_text_not_an_option(tmp_path, espeak, run_calls):
    path = SpeechCache(tmp_path).wav_for("-h módulo tres")
    assert rms(read_wav(path)[1]) > 0.02
    assert run_calls[0][-2:] == ["--", "-h módulo tres"]


# --------------------------------------------------------------------------
# the skip-or-fail rule itself


def test_missing_tool_skips_locally_and_fails_under_ci(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="espeak-ng is not installed"):
        require_program("espeak-ng", "hint")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_program("espeak-ng", "hint")
