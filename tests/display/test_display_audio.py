"""The screen's sound: a chime, then the call spoken in Spanish, generated once and served as WAV."""

import array
import io
import math
import os
import wave

import pytest

from shared.speech import SpeechCache, call_phrase
from tests.conftest import require_program


def samples_of(wav_bytes: bytes) -> tuple[float, array.array]:
    """Return the duration in seconds and the 16-bit samples of a mono WAV."""
    with wave.open(io.BytesIO(wav_bytes), "rb") as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        seconds = wav.getnframes() / wav.getframerate()
        samples = array.array("h", wav.readframes(wav.getnframes()))
    return seconds, samples


def rms(samples) -> float:
    """Root mean square of 16-bit samples, as a fraction of full scale."""
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768


@pytest.fixture
def tv(app, display_device):
    """A paired display's browser (its device cookie)."""
    client = app.test_client()
    client.set_cookie("turnos_device", display_device()["token"])
    return client


def audio_files(app) -> list[str]:
    """Return the names of the generated audio files of the instance."""
    folder = os.path.join(app.instance_path, "audio")
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_a_call_is_spoken_in_spanish_loud_enough_and_generated_once(app, tv):
    espeak = require_program("espeak-ng")
    r = tv.get("/display/audio/call.wav?code=A-007&desk=3&pref=0")
    assert r.status_code == 200 and r.mimetype == "audio/wav"
    seconds, samples = samples_of(r.data)
    assert 1.5 < seconds < 10, seconds
    assert rms(samples) > 0.02, "the announcement is (nearly) silent"

    # It is exactly the Spanish sentence, rendered with the Latin-American Spanish voice, cached.
    phrase = call_phrase("A-007", "Módulo 3")
    assert phrase == "Turno a, cero cero siete, módulo tres."
    cached = SpeechCache(app.instance_path + "/audio", voice="es-419", speed=140,
                         espeak=espeak).path_for(phrase)
    assert cached.read_bytes() == r.data
    mtime = cached.stat().st_mtime_ns
    assert tv.get("/display/audio/call.wav?code=A-007&desk=3&pref=0").data == r.data
    assert cached.stat().st_mtime_ns == mtime
    assert "max-age" in r.headers["Cache-Control"]


def test_a_preferential_call_says_so_and_reads_out_the_p(tv):
    require_program("espeak-ng")
    r = tv.get("/display/audio/phrase?code=PA-008&desk=1&pref=1")
    assert r.get_json() == {"phrase": "Turno pe a, cero cero ocho, preferencial, módulo uno."}
    general = tv.get("/display/audio/call.wav?code=A-008&desk=1&pref=0")
    preferential = tv.get("/display/audio/call.wav?code=PA-008&desk=1&pref=1")
    assert samples_of(preferential.data)[0] > samples_of(general.data)[0]


def test_the_chime_is_served_and_audible(tv):
    r = tv.get("/display/audio/chime.wav")
    assert r.status_code == 200 and r.mimetype == "audio/wav"
    seconds, samples = samples_of(r.data)
    assert 0.7 < seconds < 1.0 and rms(samples) > 0.05


@pytest.mark.parametrize("query, status, error", [
    ("code=A-007", 400, "invalid_desk"),
    ("desk=3", 400, "invalid_code"),
    ("code=A-007&desk=99", 404, "unknown_desk"),
    ("code=a-007&desk=3", 400, "invalid_code"),
    ("code=A007&desk=3", 400, "invalid_code"),
    ("code=../../etc/passwd&desk=3", 400, "invalid_code"),
    ("code=A-0000007&desk=3", 400, "invalid_code"),
    ("code=Z-007&desk=3", 400, "invalid_code"),            # no service has the prefix Z
    ("code=PA-007&desk=3", 400, "invalid_code"),           # PA is not a general prefix
    ("code=A-007&desk=3&pref=1", 400, "invalid_code"),     # a preferential code starts with P
    ("code=A-007&desk=3&pref=yes", 400, "invalid_pref"),
    ("code=A-007&desk=" + "9" * 40, 400, "invalid_desk"),
])
def test_a_malformed_request_is_refused_and_generates_nothing(app, tv, query, status, error):
    r = tv.get("/display/audio/call.wav?" + query)
    assert r.status_code == status
    assert r.get_json()["error"] == error and r.get_json()["message"]
    assert not [f for f in audio_files(app) if f.startswith("speech-")]


def test_a_screen_cannot_name_a_desk_of_another_site(app, api, display_device):
    norte = app.test_client()
    norte.set_cookie("turnos_device", display_device("cam-norte")["token"])
    assert norte.get("/display/audio/call.wav?code=A-001&desk=3").get_json()["error"] == "unknown_desk"
    # Its own site's desks: "Ventanilla 2".
    assert norte.get("/display/audio/phrase?code=E-001&desk=2").get_json() == {
        "phrase": "Turno e, cero cero uno, ventanilla dos."}


def test_only_screens_and_admins_get_the_audio(app, api):
    assert app.test_client().get("/display/audio/chime.wav").status_code == 401
    kiosk = app.test_client()
    kiosk.set_cookie("turnos_device", api.device("kiosk"))
    assert kiosk.get("/display/audio/chime.wav").status_code == 403
    r = api.call("admin", "GET", "/display/audio/phrase?site=cam-norte&code=E-003&desk=1")
    assert r.get_json() == {"phrase": "Turno e, cero cero tres, ventanilla uno."}


def test_without_espeak_the_screen_plays_the_chime_alone(app, tv, display_device):
    from shared.events import socketio
    from tests.display.helpers import received

    app.extensions["turnos.speech"] = SpeechCache(app.instance_path + "/audio",
                                                  espeak="espeak-ng-not-installed")
    r = tv.get("/display/audio/call.wav?code=A-007&desk=3")
    assert r.status_code == 503
    assert r.get_json()["error"] == "speech_unavailable"
    assert tv.get("/display/audio/chime.wav").status_code == 200
    snapshot = received(socketio.test_client(app, auth={"token": display_device()["token"]}),
                        "snapshot")[0]
    assert snapshot["display"]["speech"] is False
