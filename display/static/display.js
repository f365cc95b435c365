/* Waiting-room display: live calls, history, clock, and announcements one after another.
 *
 * window.TurnosDisplay exposes the state for tests and for a curious technician:
 *   queue      announcements waiting their turn (oldest first)
 *   current    the announcement being played, or null
 *   announced  finished announcements, oldest first: {code, desk, recall, spoken, ...}
 *              spoken: "server" | "browser" | "chime" (chime alone)
 *   connected  whether the live socket is up; snapshots: snapshots received
 */
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("display-data").textContent);
  var texts = data.texts;
  var MAX_ANNOUNCED = 100;

  function $(id) { return document.getElementById(id); }
  function text(el, value) { Turnos.setText(el, value); }

  var state = {
    settings: { history_length: 6, voice: "server", services: [], desks: [], counted: null,
                speech: true },
    calls: [],       // newest first, each ticket once
    seen: {},        // keys of calls already shown: "id|called_at"
    first: true,     // the first snapshot is shown, never announced
    offset: 0,       // server clock minus this machine's clock, in ms
    timezone: data.timezone,
    services: []
  };

  var TD = window.TurnosDisplay = {
    queue: [], current: null, announced: [], connected: false, snapshots: 0, blocked: false,
    calls: function () { return state.calls.slice(); }
  };

  function keyOf(call) { return call.id + "|" + call.called_at; }

  function inZone(call) {
    var s = state.settings;
    if (s.services.length && s.services.indexOf(call.service) < 0) { return false; }
    return !s.desks.length || s.desks.indexOf(call.desk) >= 0;
  }

  // --- drawing ------------------------------------------------------------------

  function render() {
    var limit = state.settings.history_length;
    var current = state.calls[0];
    // At rest (no call yet today) the panel welcomes instead of showing an empty call.
    $("current").classList.toggle("idle", !current);
    text($("current-code"), current ? current.code : "");
    text($("current-desk"), current ? (current.desk_name || current.desk) : "");
    $("current-pref").classList.toggle("hidden", !(current && current.preferential));
    $("current").dataset.id = current ? String(current.id) : "";
    fitCall();

    var list = $("history");
    list.style.setProperty("--rows", String(limit));
    list.classList.toggle("dense", limit >= 8);  // small rows: the badge goes beside the code
    list.replaceChildren();
    state.calls.slice(1, limit + 1).forEach(function (call) {
      var row = document.createElement("li");
      row.className = "dsp-row" + (call.preferential ? " pref" : "");
      row.dataset.code = call.code;
      var codeCell = document.createElement("span");
      codeCell.className = "dsp-row-code";
      text(codeCell, call.code);
      if (call.preferential) {
        var badge = document.createElement("span");
        badge.className = "dsp-badge";
        text(badge, texts.preferential);
        codeCell.appendChild(badge);
      }
      var deskCell = document.createElement("span");
      deskCell.className = "dsp-row-desk";
      text(deskCell, call.desk_name || call.desk);
      row.appendChild(codeCell);
      row.appendChild(deskCell);
      list.appendChild(row);
    });
    renderWaiting();
  }

  /* The code and the desk at one size: the largest (up to 20% of the screen's height) at which both fit. */
  function fitCall() {
    var panel = $("current"), fits = panel.querySelectorAll(".dsp-fit");
    if (panel.classList.contains("idle")) { return; }
    var room = panel.clientWidth * 0.92, size = window.innerHeight * 0.2;
    panel.style.setProperty("--call-size", size + "px");
    var widest = Math.max.apply(null, Array.prototype.map.call(fits, function (el) { return el.scrollWidth; }));
    if (widest > room) { panel.style.setProperty("--call-size", Math.floor(size * room / widest) + "px"); }
  }
  window.addEventListener("resize", fitCall);

  var waitingPage = 0;

  /* Waiting people per procedure by name ("Impuesto predial 4"); a page at a time when they do not fit. */
  function renderWaiting() {
    var box = $("waiting");
    box.replaceChildren();
    var counted = state.settings.counted;
    var rows = state.services.filter(function (s) { return !counted || counted.indexOf(s.code) >= 0; });
    if (!rows.length) { return; }
    var label = document.createElement("span");
    text(label, texts.waiting + ":");
    box.appendChild(label);
    var items = rows.map(function (s) {
      var item = document.createElement("span");
      item.dataset.service = s.code;
      text(item, s.name);
      var count = document.createElement("strong");
      text(count, s.waiting);
      item.appendChild(count);
      box.appendChild(item);
      return item;
    });
    // Split into pages of what fits on the line; show one page (turned by the clock tick).
    var pages = [[]];
    var limit = box.getBoundingClientRect().right - parseFloat(getComputedStyle(box).paddingRight);
    var start = items[0].getBoundingClientRect().left, shift = 0;
    items.forEach(function (item) {
      var rect = item.getBoundingClientRect();
      if (pages[pages.length - 1].length && rect.right - shift > limit) {
        pages.push([]);
        shift = rect.left - start;
      }
      pages[pages.length - 1].push(item);
    });
    waitingPage = waitingPage % pages.length;
    pages.forEach(function (page, i) {
      page.forEach(function (item) { item.classList.toggle("hidden", i !== waitingPage); });
    });
    box.dataset.pages = String(pages.length);
  }

  window.setInterval(function () { waitingPage += 1; renderWaiting(); }, 8000);

  function pulse() {
    var panel = $("current");
    panel.classList.remove("pulse");
    void panel.offsetWidth;  // restart the animation
    panel.classList.add("pulse");
  }
  $("current").addEventListener("animationend", function () { $("current").classList.remove("pulse"); });

  var timeFormat = null, dateFormat = null, formatZone = null;

  function tick() {
    if (formatZone !== state.timezone) {
      formatZone = state.timezone;
      try {
        timeFormat = new Intl.DateTimeFormat("es-CO", { timeZone: formatZone, hour: "numeric", minute: "2-digit" });
        dateFormat = new Intl.DateTimeFormat("es-CO", { timeZone: formatZone, weekday: "long", day: "numeric", month: "long" });
      } catch (e) {
        timeFormat = new Intl.DateTimeFormat("es-CO", { hour: "numeric", minute: "2-digit" });
        dateFormat = new Intl.DateTimeFormat("es-CO", { weekday: "long", day: "numeric", month: "long" });
      }
    }
    var now = new Date(Date.now() + state.offset);
    text($("clock-time"), timeFormat.format(now));
    text($("clock-date"), dateFormat.format(now));
  }

  // --- live data -------------------------------------------------------------------

  function onSnapshot(snap) {
    TD.snapshots += 1;
    state.settings = snap.display;
    state.timezone = snap.timezone || state.timezone;
    state.offset = snap.server_time - Date.now();
    state.services = snap.services || [];
    text($("site-name"), snap.site_name);
    text($("message"), snap.display_message || "");
    var calls = (snap.last_calls || []).slice(0, state.settings.history_length + 1);
    var missed = [];
    if (!state.first) {
      // Calls made while this screen was offline: shown, and announced while still recent.
      calls.slice().reverse().forEach(function (call) {
        var age = snap.server_time - Date.parse(call.called_at);
        if (!state.seen[keyOf(call)] && age <= data.catch_up_seconds * 1000) { missed.push(call); }
      });
    }
    if (Object.keys(state.seen).length > 5000) { state.seen = {}; }
    calls.forEach(function (call) { state.seen[keyOf(call)] = true; });
    var before = state.calls.length ? keyOf(state.calls[0]) : null;
    state.calls = calls;
    render();
    if (!state.first && calls.length && keyOf(calls[0]) !== before) { pulse(); }
    state.first = false;
    missed.forEach(enqueue);
    tick();
  }

  function onCall(call) {
    if (!inZone(call) || state.seen[keyOf(call)]) { return; }
    state.seen[keyOf(call)] = true;
    state.calls = [call].concat(state.calls.filter(function (c) { return c.id !== call.id; }))
      .slice(0, state.settings.history_length + 1);
    render();
    pulse();
    enqueue(call);
  }

  function onQueue(payload) {
    state.services = payload.services || [];
    renderWaiting();
  }

  function setConnected(up) {
    TD.connected = up;
    $("offline").classList.toggle("hidden", up);
  }

  var socket = Turnos.connect(data.auth, {
    snapshot: onSnapshot,
    ticket_called: onCall,
    queue_changed: onQueue,
    config_changed: function () { socket.disconnect(); socket.connect(); },
    device_revoked: function () { window.location.reload(); },
    connect: function () { setConnected(true); },
    disconnect: function (reason) {
      setConnected(false);
      // The server closed this socket on purpose (e.g. a revoked device): ask again later.
      if (reason === "io server disconnect") { window.setTimeout(function () { socket.connect(); }, 5000); }
    },
    connect_error: function () {
      setConnected(false);
      // Refused by the server (not a network failure): the client stops retrying; keep trying slowly.
      if (!socket.active) { window.setTimeout(function () { socket.connect(); }, 15000); }
    }
  });

  // --- announcements ---------------------------------------------------------------

  var chime = new Audio(data.chime_url);
  chime.preload = "auto";
  var gestureWaiters = [];

  function withCall(base, item) {
    var sep = base.indexOf("?") >= 0 ? "&" : "?";
    return base + sep + "code=" + encodeURIComponent(item.code) + "&desk=" + encodeURIComponent(item.desk) +
      "&pref=" + (item.preferential ? "1" : "0");
  }

  function spanishVoice() {
    if (!("speechSynthesis" in window)) { return null; }
    var voices = window.speechSynthesis.getVoices().filter(function (v) { return /^es\b/i.test(v.lang); });
    var order = ["es-CO", "es-419", "es-MX", "es-US"];
    for (var i = 0; i < order.length; i++) {
      for (var j = 0; j < voices.length; j++) {
        if (voices[j].lang.replace("_", "-").toLowerCase() === order[i].toLowerCase()) { return voices[j]; }
      }
    }
    return voices[0] || null;
  }

  function mode() {
    var voice = state.settings.voice;
    if (voice === "browser" && !spanishVoice()) { voice = "server"; }
    if (voice === "server" && !state.settings.speech) { voice = "chime"; }
    return voice;
  }

  function enqueue(call) {
    var item = { id: call.id, code: call.code, desk: call.desk, desk_name: call.desk_name,
                 preferential: !!call.preferential, recall: !!call.recall, called_at: call.called_at,
                 queued_at: Date.now() };
    if (mode() === "server" && item.desk) {
      // Fetch the speech while earlier announcements and the chime play.
      item.audio = new Audio(withCall(data.call_url, item));
      item.audio.preload = "auto";
    }
    TD.queue.push(item);
    pump();
  }

  function pump() {
    if (TD.current || !TD.queue.length) { return; }
    var item = TD.current = TD.queue.shift();
    item.started_at = Date.now();
    announce(item).then(function (how) {
      item.spoken = how;
      item.finished_at = Date.now();
      delete item.audio;
      TD.announced.push(item);
      if (TD.announced.length > MAX_ANNOUNCED) { TD.announced.shift(); }
      TD.current = null;
      pump();
    });
  }

  function announce(item) {
    return play(chime).then(function () {
      var how = mode();
      if (how === "browser") {
        return speakInBrowser(item).then(function (ok) { return ok ? "browser" : speakFromServer(item); });
      }
      return how === "server" ? speakFromServer(item) : "chime";
    });
  }

  function speakFromServer(item) {
    if (!item.desk) { return Promise.resolve("chime"); }
    var audio = item.audio || new Audio(withCall(data.call_url, item));
    return play(audio).then(function (ok) { return ok ? "server" : "chime"; });
  }

  function speakInBrowser(item) {
    var voice = spanishVoice();
    if (!voice || !item.desk) { return Promise.resolve(false); }
    return Turnos.api("GET", withCall(data.phrase_url, item)).then(function (reply) {
      if (reply.status !== 200) { return false; }
      return new Promise(function (resolve) {
        var utterance = new SpeechSynthesisUtterance(reply.data.phrase);
        var timer = window.setTimeout(function () { resolve(false); }, 20000);
        utterance.voice = voice;
        utterance.lang = voice.lang;
        utterance.rate = 0.9;
        utterance.onend = function () { window.clearTimeout(timer); resolve(true); };
        utterance.onerror = function () { window.clearTimeout(timer); resolve(false); };
        window.speechSynthesis.speak(utterance);
      });
    }, function () { return false; });
  }

  /* Play an audio element to its end; resolves true when it ended, false when it failed.
   * When the browser refuses to play without a user gesture, it waits for a tap (never skips). */
  function play(audio) {
    return new Promise(function (resolve) {
      var finished = false, waiting = false, timer = null;
      function end(ok) {
        if (finished) { return; }
        finished = true;
        window.clearTimeout(timer);
        audio.removeEventListener("ended", onEnded);
        audio.removeEventListener("error", onError);
        audio.removeEventListener("loadedmetadata", arm);
        resolve(ok);
      }
      function onEnded() { end(true); }
      function onError() { end(false); }
      function arm() {
        // A safety net: a stalled file must not hold the queue forever.
        window.clearTimeout(timer);
        if (waiting) { return; }
        var seconds = isFinite(audio.duration) && audio.duration > 0 ? audio.duration : 15;
        timer = window.setTimeout(function () { end(false); }, (seconds + 5) * 1000);
      }
      function attempt() {
        waiting = false;
        if (audio.error) { end(false); return; }
        var started;
        try {
          audio.currentTime = 0;
          started = audio.play();
        } catch (e) { end(false); return; }
        arm();
        if (started && started.catch) {
          started.catch(function (err) {
            if (err && err.name === "NotAllowedError") {
              waiting = true;
              window.clearTimeout(timer);
              waitForGesture().then(attempt);
            } else {
              end(false);
            }
          });
        }
      }
      audio.addEventListener("ended", onEnded);
      audio.addEventListener("error", onError);
      audio.addEventListener("loadedmetadata", arm);
      attempt();
    });
  }

  function waitForGesture() {
    TD.blocked = true;
    $("sound-prompt").classList.remove("hidden");
    return new Promise(function (resolve) { gestureWaiters.push(resolve); });
  }

  function unlock() {
    if (!TD.blocked) { return; }
    TD.blocked = false;
    $("sound-prompt").classList.add("hidden");
    var waiters = gestureWaiters;
    gestureWaiters = [];
    waiters.forEach(function (resolve) { resolve(); });
  }
  ["pointerdown", "keydown", "touchstart"].forEach(function (name) {
    document.addEventListener(name, unlock, true);
  });
  if ("speechSynthesis" in window) { window.speechSynthesis.getVoices(); }

  render();
  tick();
  window.setInterval(tick, 1000);
})();
