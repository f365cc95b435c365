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
    if (state.status === "called" && navigator.vibrate) { navigator.vibrate([300, 150, 300]); }
    root.setAttribute("data-version", String(Date.now()));
  }

  function refresh() {
    fetch("/t/" + encodeURIComponent(visit) + ".json", { headers: { Accept: "application/json" },
                                                         cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (state) { if (state) { render(state); } })
      .catch(function () { Turnos.setText($("updated"), S.offline); });
  }

  /* Other tickets called or leaving move this one forward: when the waiting count of its
     service changes, read again (after a short random delay, so a room of phones does not
     ask all at once). */
  function queueChanged(payload) {
    if (root.getAttribute("data-status") !== "waiting" || !payload || !payload.services) { return; }
    var line = payload.services.filter(function (s) { return s.code === service; })[0];
    var count = line ? line.waiting : 0;
    if (count === lastCount || timer) { return; }
    lastCount = count;
    timer = window.setTimeout(function () { timer = null; refresh(); }, Math.random() * 1500);
  }

  Turnos.connect({ ticket: visit }, {
    connect: function () { $("live-mark").classList.add("on"); refresh(); },
    disconnect: function () { $("live-mark").classList.remove("on"); Turnos.setText($("updated"), S.offline); },
    ticket_status: refresh,
    queue_changed: queueChanged
  });
  window.setInterval(function () {
    if (root.getAttribute("data-status") === "waiting") { refresh(); }
  }, 60000);

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
