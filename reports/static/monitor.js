/* Live monitor: read the site's state, and read it again whenever the site changes. */
(function () {
  "use strict";

  var root = document.getElementById("monitor");
  if (!root) { return; }
  var site = root.getAttribute("data-site");
  var canReprint = root.getAttribute("data-reprint") === "1";
  var S = JSON.parse(document.getElementById("monitor-strings").textContent);
  var serviceCodes = JSON.parse(document.getElementById("monitor-services").textContent);
  var state = null, fetchedAt = 0, timer = null, liveAlerts = [];

  var el = Turnos.el;
  function td(text, cls) { return el("td", text, cls); }
  function fill(tbody, rows) {
    while (tbody.firstChild) { tbody.removeChild(tbody.firstChild); }
    rows.forEach(function (row) { tbody.appendChild(row); });
  }
  function elapsed(seconds) {
    if (seconds == null) { return "—"; }
    return Turnos.duration(seconds + (Date.now() - fetchedAt) / 1000);
  }
  /* A cell showing a time that keeps running between two reads of the state. */
  function running(seconds, cls) {
    var cell = td(elapsed(seconds), "num" + (cls ? " " + cls : ""));
    if (seconds != null) { cell.setAttribute("data-seconds", String(seconds)); }
    return cell;
  }
  function tick() {
    Array.prototype.forEach.call(document.querySelectorAll("td[data-seconds]"), function (cell) {
      cell.textContent = elapsed(Number(cell.getAttribute("data-seconds")));
    });
  }
  function fmt(text, value) { return text.replace("{code}", value); }

  function say(message, level) {
    liveAlerts.unshift({ message: message, level: level || "warning", at: Date.now() });
    liveAlerts = liveAlerts.slice(0, 5);
    renderAlerts();
  }

  function act(method, path, body, done) {
    Turnos.api(method, path, body).then(function (r) {
      if (r.status >= 400) { say((r.data && r.data.message) || String(r.status), "error"); return; }
      say(done, "ok");
      refresh();
    }, function () { say(S.offline, "error"); });
  }

  function actions(ticket) {
    var box = el("div", null, "row-actions");
    var select = el("select");
    select.setAttribute("aria-label", S.reassign + " " + ticket.code);
    serviceCodes.forEach(function (code) {
      if (code === ticket.service) { return; }
      var option = el("option", code); option.value = code; select.appendChild(option);
    });
    var move = el("button", S.reassign);
    move.type = "button";
    move.setAttribute("data-action", "reassign");
    move.addEventListener("click", function () {
      act("POST", "/api/v1/tickets/" + ticket.id + "/transfer", { service: select.value },
          fmt(S.done_reassign, ticket.code));
    });
    var cancel = el("button", S.cancel);
    cancel.type = "button";
    cancel.setAttribute("data-action", "cancel");
    cancel.addEventListener("click", function () {
      if (!window.confirm(fmt(S.confirm_cancel, ticket.code))) { return; }
      act("POST", "/api/v1/tickets/" + ticket.id + "/cancel", { reason: "supervisor" },
          fmt(S.done_cancel, ticket.code));
    });
    box.appendChild(select); box.appendChild(move); box.appendChild(cancel);
    if (canReprint) {
      var reprint = el("button", S.reprint);
      reprint.type = "button";
      reprint.setAttribute("data-action", "reprint");
      reprint.addEventListener("click", function () {
        act("POST", "/api/v1/tickets/" + ticket.id + "/reprint", {}, fmt(S.done_reprint, ticket.code));
      });
      box.appendChild(reprint);
    }
    return box;
  }

  function renderAlerts() {
    var list = document.getElementById("alerts");
    var items = [];
    liveAlerts.forEach(function (a) {
      items.push(el("li", a.message, a.level === "ok" ? "alert-warning" : "alert-" + a.level));
    });
    (state ? state.alerts : []).forEach(function (a) {
      var li = el("li", a.message, "alert-" + a.level);
      li.setAttribute("data-kind", a.kind);
      items.push(li);
    });
    fill(list, items);
  }

  function render() {
    if (!state) { return; }
    var hints = {};
    state.staffing.services.forEach(function (h) { hints[h.service] = h; });
    fill(document.querySelector("#services tbody"), state.services.map(function (s) {
      var tr = el("tr", null, s.over_target ? "over" : "");
      tr.setAttribute("data-service", s.code);
      tr.appendChild(el("th", s.code + " — " + s.name));
      tr.appendChild(td(s.waiting, "num waiting"));
      tr.appendChild(td(s.waiting_preferential, "num"));
      tr.appendChild(s.waiting ? running(s.longest_wait_seconds, "longest") : td("—", "num longest"));
      tr.appendChild(td(Turnos.duration(s.target_wait_seconds), "num"));
      tr.appendChild(td(s.desks_open, "num"));
      var h = hints[s.code];
      tr.appendChild(td(h ? h.desks_needed : "—", "num needed"));
      return tr;
    }));
    Turnos.setText(document.getElementById("staffing-note"),
                   state.staffing.source === "history" ? S.staffing_history : S.staffing_last_hour);
    var ch = state.channels || {};
    [["ch-pending", ch.appointments_pending], ["ch-checked-in", ch.checked_in], ["ch-no-show", ch.no_show],
     ["ch-awaiting", ch.remote_awaiting], ["ch-never", ch.remote_never_confirmed],
     ["ch-punctuality", ch.punctuality_p50_minutes], ["ch-wait-slot", ch.wait_from_slot_p50_minutes]
    ].forEach(function (pair) { Turnos.setText(document.getElementById(pair[0]), pair[1] == null ? "—" : pair[1]); });
    Turnos.setText(document.getElementById("staffing-coming"), S.staffing_coming.replace("{hours}",
      (state.staffing.coming_hours || []).map(function (h) {
        return h.from.slice(11, 16) + " " + h.desks_needed_total;
      }).join(" · ")));
    fill(document.querySelector("#desks tbody"), state.desks.map(function (d) {
      var tr = el("tr");
      tr.setAttribute("data-desk", d.code);
      tr.appendChild(el("th", d.name));
      tr.appendChild(td(d.official || "—"));
      var cell = td(null);
      var label = S[d.state] || d.state;
      if (d.state === "paused" && d.pause_label) { label += " · " + d.pause_label; }
      cell.appendChild(el("span", label, "state state-" + d.state));
      tr.appendChild(cell);
      tr.appendChild(td(d.ticket ? d.ticket.code + " · " + d.ticket.service : ""));
      tr.appendChild(d.state === "closed" ? td("", "num") : running(d.seconds));
      tr.appendChild(td(d.served_today, "num"));
      return tr;
    }));
    var waiting = state.waiting.map(function (t) {
      var tr = el("tr", null, t.over_target ? "over" : "");
      tr.setAttribute("data-ticket", t.id);
      tr.setAttribute("data-code", t.code);
      var code = el("th");
      code.appendChild(el("span", t.code, "code"));
      if (t.priority_label) { code.appendChild(el("span", t.priority_label, "badge-pref")); }
      tr.appendChild(code);
      tr.appendChild(td(t.service));
      var wait = running(t.waiting_seconds);
      if (t.passed_over) {
        var note = el("span", " " + fmt(S.passed_over, t.passed_over.count)
                      .replace("{minutes}", Math.floor(t.passed_over.seconds / 60)), "badge-passed");
        note.setAttribute("data-passed-over", String(t.passed_over.count));
        wait.appendChild(note);
        wait.removeAttribute("data-seconds");  // the note stays; the running time is the row's
      }
      tr.appendChild(wait);
      var cell = td(null); cell.appendChild(actions(t)); tr.appendChild(cell);
      return tr;
    });
    if (!waiting.length) { var empty = el("tr"); empty.appendChild(td(S.nobody, "muted")); waiting = [empty]; }
    fill(document.querySelector("#waiting tbody"), waiting);
    var kiosks = state.kiosks.map(function (k) {
      var tr = el("tr");
      tr.setAttribute("data-device", k.device);
      tr.appendChild(el("th", k.name));
      var bad = k.status === "paper_out" || k.status === "offline";
      var tone = bad ? "status-bad" : ({ near_end: "status-warn", ok: "status-ok" }[k.status] || "status-unknown");
      tr.appendChild(td(S["status_" + k.status] || k.status, tone));
      tr.appendChild(td(k.message));
      return tr;
    });
    if (!kiosks.length) { var none = el("tr"); none.appendChild(td(S.no_kiosks, "muted")); kiosks = [none]; }
    fill(document.querySelector("#kiosks tbody"), kiosks);
    Turnos.setText(document.getElementById("totals"),
                   state.totals.waiting + " " + S.waiting + " · " + state.totals.served_today + " " +
                   S.served_today + " · " + state.totals.desks_open + " " + S.desks_open);
    Turnos.setText(document.getElementById("updated"), S.updated + " " + state.server_time.slice(11, 19));
    renderAlerts();
    root.setAttribute("data-loaded", String(Date.now()));
  }

  function refresh() {
    Turnos.api("GET", "/api/v1/reports/monitor?site=" + encodeURIComponent(site)).then(function (r) {
      if (r.status === 200) { state = r.data; fetchedAt = Date.now(); render(); }
    });
  }
  function soon() {
    if (timer) { return; }
    timer = window.setTimeout(function () { timer = null; refresh(); }, 250);
  }

  var dot = document.getElementById("live-dot");
  var handlers = {
    connect: function () { dot.classList.add("on"); refresh(); },
    disconnect: function () { dot.classList.remove("on"); }
  };
  ["snapshot", "ticket_issued", "ticket_called", "ticket_started", "ticket_finished", "ticket_no_show",
   "ticket_no_show_undone",
   "ticket_transferred", "ticket_cancelled", "queue_changed", "day_closed", "desk_changed",
   "printer_status", "print_result", "config_changed"].forEach(function (name) { handlers[name] = soon; });
  handlers.alert = function (a) { say(a.message || a.kind, a.level === "error" ? "error" : "warning"); soon(); };
  Turnos.connect({ site: site }, handlers);
  refresh();
  window.setInterval(tick, 1000);
  window.setInterval(refresh, 60000);
})();
