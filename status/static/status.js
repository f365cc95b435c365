/* A ticket's status page: live over Socket.IO (its own room), re-reading its JSON on each change. */
(function () {
  "use strict";

  var root = document.getElementById("ticket-status");
  if (!root) { return; }
  var visit = root.getAttribute("data-visit");
  var S = JSON.parse(document.getElementById("status-strings").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var show = function (id, on) { $(id).classList.toggle("hidden", !on); };
  var timer = null, service = root.getAttribute("data-service"), lastCount = null;
  var alerted = {}, lastState = null, audio = null;

  /* Alerts while the page is open: a tone, a vibration and a browser notification. */
  function tone() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.2;
      osc.connect(gain); gain.connect(audio.destination);
      osc.start(); osc.stop(audio.currentTime + 0.6);
    } catch (e) { /* no sound device: vibration and the notification still tell */ }
  }

  function alertCitizen(kind, title, body) {
    if (alerted[kind]) { return; }
    alerted[kind] = true;
    root.setAttribute("data-alerted", Object.keys(alerted).join(" "));
    tone();
    if (navigator.vibrate) { navigator.vibrate(kind === "called" ? [300, 150, 300, 150, 300] : [200, 100, 200]); }
    if (window.Notification && Notification.permission === "granted") {
      try { new Notification(title, { body: body, tag: "turnos-" + kind }); } catch (e) { /* mobile: best effort */ }
    }
  }

  function checkAlerts(state) {
    if (state.status === "called") {
      alertCitizen("called", S.called_title, state.message);
    } else if (state.status === "waiting" && state.ahead != null && state.ahead <= state.near_ahead) {
      alertCitizen("near", S.near_title, S.near_body.replace("{n}", state.ahead).replace("{code}", state.code));
    }
  }

  function hhmm(ms) {
    return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  /* A ticket from a phone: when to leave home (the soonest the turn may come, minus the trip). */
  function renderArrival(state) {
    show("arrival-panel", !!state.awaiting_arrival);
    if (!state.awaiting_arrival) { return; }
    Turnos.setText($("arrival-code"), state.arrival_code || "");
    var skew = Date.now() - state.server_time;
    var travel = Number($("travel").value) * 60000;
    if (state.earliest_call_at != null) {
      var leave = state.earliest_call_at + skew - travel;
      Turnos.setText($("leave"), leave <= Date.now() ? S.leave_now : S.leave_at.replace("{time}", hhmm(leave)));
    }
    show("deadline", state.arrival_deadline != null);
    if (state.arrival_deadline != null) {
      Turnos.setText($("deadline"), S.deadline.replace("{time}", hhmm(state.arrival_deadline + skew)));
    }
  }

  function render(state) {
    root.setAttribute("data-status", state.status);
    service = state.service;
    Turnos.setText($("code"), state.code);
    Turnos.setText($("service"), state.service_name);
    show("transferred", !!state.transferred_from);
    Turnos.setText($("transferred-from"), state.transferred_from || "");
    show("called-panel", state.status === "called");
    Turnos.setText($("called-desk"), state.status === "called" ? state.message : "");
    show("waiting-panel", state.status === "waiting");
    Turnos.setText($("ahead"), state.ahead == null ? "" : state.ahead);
    var range = state.estimated_wait_range_seconds;
    Turnos.setText($("estimate"), range ? Math.floor(range[0] / 60) + "–" + Math.ceil(range[1] / 60) :
                   state.estimated_wait_seconds == null ? "" :
                   "~" + Math.ceil(state.estimated_wait_seconds / 60));
    show("passed-over", !!state.passed_over);
    $("passed-over").setAttribute("data-count", String(state.passed_over || 0));
    Turnos.setText($("passed-over"), S.passed_over.replace("{m}", Math.floor((state.waited_seconds || 0) / 60))
                   .replace("{n}", state.passed_over || 0));
    Turnos.setText($("message"), state.status === "called" ? "" : state.message);
    show("rating-panel", state.can_rate);
    show("thanks", state.rated);
    var now = new Date();
    Turnos.setText($("updated"), S.updated.replace("{time}",
                   now.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })));
    show("alerts-panel", state.status === "waiting");
    renderArrival(state);
    lastState = state;
    checkAlerts(state);
    root.setAttribute("data-version", String(Date.now()));
  }

  function refresh() {
    fetch("/t/" + encodeURIComponent(visit) + ".json", { headers: { Accept: "application/json" },
                                                         cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (state) { if (state) { render(state); } })
      .catch(function () { Turnos.setText($("updated"), S.offline); });
  }

  /* Read again after a short random delay, so a room of phones does not ask all at once. */
  function refreshSoon() {
    timer = window.setTimeout(function () { timer = null; refresh(); }, Math.random() * 1500);
  }

  /* Other tickets called or leaving move this one forward: when the waiting count of its
     service changes, read again soon. */
  function queueChanged(payload) {
    if (root.getAttribute("data-status") !== "waiting" || !payload || !payload.services) { return; }
    var line = payload.services.filter(function (s) { return s.code === service; })[0];
    var count = line ? line.waiting : 0;
    if (count === lastCount || timer) { return; }
    lastCount = count;
    refreshSoon();
  }

  /* A call in this ticket's line can change its situation while the waiting count stays the
     same (one citizen arrives as another is called, sent as one count): a turn from a phone
     learns that it was passed over and until when it may still confirm. Read again too. */
  function calledInLine(payload) {
    if (root.getAttribute("data-status") !== "waiting" || !payload || payload.service !== service ||
        timer) { return; }
    refreshSoon();
  }

  Turnos.connect({ ticket: visit }, {
    connect: function () { $("live-mark").classList.add("on"); refresh(); },
    disconnect: function () { $("live-mark").classList.remove("on"); Turnos.setText($("updated"), S.offline); },
    ticket_status: refresh,
    queue_changed: queueChanged,
    ticket_called: calledInLine
  });
  window.setInterval(function () {
    if (root.getAttribute("data-status") === "waiting") { refresh(); }
  }, 60000);

  $("travel").addEventListener("change", function () { if (lastState) { renderArrival(lastState); } });
  $("alerts-on").addEventListener("click", function () {
    tone();  // a tap lets the page make sound later
    if (!window.Notification) { Turnos.setText($("alerts-state"), S.alerts_denied); return; }
    Notification.requestPermission().then(function (answer) {
      Turnos.setText($("alerts-state"), answer === "granted" ? S.alerts_on : S.alerts_denied);
      root.setAttribute("data-notifications", answer);
    });
  });

  $("rating-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var chosen = root.querySelector('input[name="score"]:checked');
    if (!chosen) { Turnos.setText($("rating-error"), S.choose); show("rating-error", true); return; }
    $("rate-button").disabled = true;
    Turnos.api("POST", "/t/" + encodeURIComponent(visit) + "/rating",
               { score: Number(chosen.value), comment: $("comment").value })
      .then(function (r) {
        $("rate-button").disabled = false;
        if (r.status === 201 || (r.data && r.data.error === "already_rated")) {
          show("rating-error", false); refresh(); return;
        }
        Turnos.setText($("rating-error"), (r.data && r.data.message) || S.network);
        show("rating-error", true);
      }, function () {
        $("rate-button").disabled = false;
        Turnos.setText($("rating-error"), S.network); show("rating-error", true);
      });
  });
})();
