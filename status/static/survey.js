/* Survey screen beside a desk: asks for a rating each time the desk finishes a service. */
(function () {
  "use strict";

  var root = document.getElementById("survey");
  if (!root || !root.getAttribute("data-desk")) { return; }
  var S = JSON.parse(document.getElementById("survey-strings").textContent);
  var idleMs = Number(root.getAttribute("data-idle") || 60) * 1000;
  var $ = function (id) { return document.getElementById(id); };
  var current = null, timer = null;

  function screen(name) {
    ["idle", "ask", "thanks"].forEach(function (n) { $("survey-" + n).classList.toggle("hidden", n !== name); });
    root.setAttribute("data-state", name);
  }
  function later(ms) {
    if (timer) { window.clearTimeout(timer); }
    timer = window.setTimeout(function () { current = null; screen("idle"); }, ms);
  }
  function ask(ticket) {
    current = ticket;
    Array.prototype.forEach.call(root.querySelectorAll('input[name="score"]'), function (i) { i.checked = false; });
    $("survey-comment").value = "";
    $("survey-error").classList.add("hidden");
    Turnos.setText($("survey-code"), S.ticket.replace("{code}", ticket.code));
    root.setAttribute("data-ticket", String(ticket.id));
    screen("ask");
    later(idleMs);
  }

  $("survey-send").addEventListener("click", function () {
    var chosen = root.querySelector('input[name="score"]:checked');
    if (!current) { return; }
    if (!chosen) { Turnos.setText($("survey-error"), S.choose); $("survey-error").classList.remove("hidden"); return; }
    $("survey-send").disabled = true;
    Turnos.api("POST", "/api/v1/ratings",
               { ticket: current.id, score: Number(chosen.value), comment: $("survey-comment").value })
      .then(function (r) {
        $("survey-send").disabled = false;
        if (r.status === 201 || (r.data && r.data.error === "already_rated")) {
          screen("thanks"); later(5000); return;
        }
        Turnos.setText($("survey-error"), (r.data && r.data.message) || S.network);
        $("survey-error").classList.remove("hidden");
      }, function () {
        $("survey-send").disabled = false;
        Turnos.setText($("survey-error"), S.network); $("survey-error").classList.remove("hidden");
      });
  });
  root.addEventListener("input", function () { if (current) { later(idleMs); } });

  Turnos.connect({}, {
    connect: function () { $("live-mark").classList.add("on"); },
    disconnect: function () { $("live-mark").classList.remove("on"); },
    ticket_finished: function (ticket) { if (ticket && ticket.status === "finished") { ask(ticket); } }
  });
})();
