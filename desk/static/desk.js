/* The desk page: take a desk, then call, serve, transfer and pause, live over Socket.IO.
 *
 * The server is the only truth: every action is an API call, and every event
 * (from this tab, another tab or another desk) only triggers a re-read of the
 * desk's state, its line and the official's day. So a lost connection or a
 * second tab can never leave this page believing something the server does not.
 */
(function () {
  "use strict";

  var boot = JSON.parse(document.getElementById("desk-data").textContent);
  var T = boot.strings;
  var KEYS = boot.shortcuts;
  var API = "/api/v1";
  var LAST_KEY = "turnos.desk.last";

  var S = {
    desk: null,        // GET /desks/<id>: holder, pause, current ticket
    queue: null,       // GET /desks/<id>/queue: counts, line, current (with note)
    today: null,       // GET /me/today
    services: [],      // the site's services (transfer targets)
    offset: 0,         // server clock minus this browser's clock, in ms
    fetchedAt: 0,      // browser time when the queue was read
    busy: false,
    online: false,
    everOnline: false,
    pending: {},
    timer: null,
    shortcuts: boot.preferences.desk_shortcuts,
    undo: null         // {ticket, code, until, timer}: a no-show that may still be taken back
  };

  var $ = function (id) { return document.getElementById(id); };
  var setText = window.Turnos.setText;
  var el = window.Turnos.el;
  var duration = window.Turnos.duration;

  function fmt(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_, key) { return values[key]; });
  }

  function nowServer() { return Date.now() + S.offset; }

  function clockTime(iso) { return iso ? iso.slice(11, 16) : ""; }

  function since(iso, until) {
    if (!iso) { return 0; }
    var end = until ? Date.parse(until) : nowServer();
    return (end - Date.parse(iso)) / 1000;
  }

  // --- messages and connection -------------------------------------------------------

  function say(text, isError) {
    var box = $("message");
    setText(box, text);
    box.classList.toggle("error", !!isError);
    box.setAttribute("role", isError ? "alert" : "status");
  }

  function refusal(result) {
    if (result.status === 401) { showLogin(); return; }
    say((result.data && result.data.message) || T.network, true);
  }

  function showLogin() {
    var box = $("message");
    box.textContent = "";
    box.classList.add("error");
    box.appendChild(el("a", T.login_again, null, {href: "/login?next=/desk/"}));
  }

  function setOnline(online) {
    S.online = online;
    var banner = $("connection");
    banner.classList.toggle("hidden", online);
    document.body.classList.toggle("offline", !online);
    if (!online) { setText(banner, T.offline); }
  }

  function call(method, path, body) {
    return window.Turnos.api(method, API + path, body).catch(function () {
      return { status: 0, data: { error: "network", message: T.network } };
    });
  }

  // --- picking a desk ---------------------------------------------------------------

  function loadHome() {
    return call("GET", "/me/desks").then(function (r) {
      if (r.status !== 200) { refusal(r); return; }
      if (r.data.current) { openDesk(r.data.current); } else { showPicker(r.data); }
    });
  }

  function remembered(data) {
    var stored = null;
    try { stored = JSON.parse(window.localStorage.getItem(LAST_KEY) || "null"); } catch (e) { stored = null; }
    var all = [];
    data.sites.forEach(function (site) { site.desks.forEach(function (d) { all.push(d); }); });
    var wanted = stored && stored.id ? stored.id : (data.last ? data.last.id : null);
    var found = all.filter(function (d) { return d.id === wanted; })[0];
    return found && found.active && !found.holder ? found : null;
  }

  function showPicker(data) {
    S.desk = null;
    S.queue = null;
    $("workspace").classList.add("hidden");
    $("picker").classList.remove("hidden");
    var holder = $("sites");
    holder.textContent = "";
    data.sites.forEach(function (site) {
      var section = el("section", null, "site");
      section.appendChild(el("h2", site.name));
      var grid = el("div", null, "desk-choices");
      site.desks.forEach(function (d) {
        var b = el("button", null, "desk-choice", {type: "button", dataset: {desk: d.id},
                                                   disabled: !d.active || !!d.holder});
        b.appendChild(el("strong", d.name));
        b.appendChild(el("span", d.services.join(" · "), "muted"));
        b.appendChild(el("span", d.holder ? T.taken_by + " " + (d.holder_name || d.holder) : T.free,
                         "who-holds"));
        b.addEventListener("click", function () { takeDesk(d.id); });
        grid.appendChild(b);
      });
      section.appendChild(grid);
      holder.appendChild(section);
    });
    var last = remembered(data);
    $("last-desk").classList.toggle("hidden", !last);
    if (last) {
      var btn = $("take-last");
      setText(btn, T.take + " " + last.name + " (" + T.last_desk + ")");
      btn.dataset.desk = last.id;
      btn.focus();
    }
  }

  function takeDesk(id) {
    if (S.busy) { return; }
    S.busy = true;
    call("POST", "/desks/" + id + "/session").then(function (r) {
      S.busy = false;
      if (r.status !== 201) { refusal(r); loadHome(); return; }
      say("", false);
      openDesk(r.data);
    });
  }

  // --- the desk ---------------------------------------------------------------

  function openDesk(state) {
    var first = !S.desk || S.desk.id !== state.id;
    S.desk = state;
    try { window.localStorage.setItem(LAST_KEY, JSON.stringify({ id: state.id, site: state.site })); } catch (e) { /* private mode */ }
    if (socket.connected) { socket.emit("join_desk", { desk: state.id }); }
    $("picker").classList.add("hidden");
    $("workspace").classList.remove("hidden");
    renderDesk();
    if (first) {
      call("GET", "/sites/" + encodeURIComponent(state.site) + "/services").then(function (r) {
        if (r.status === 200) { S.services = r.data.services; }
      });
    }
    refresh({ desk: true, queue: true, today: true });
  }

  /** Re-read what changed from the server; repeated asks within one tick are merged. */
  function refresh(parts) {
    Object.keys(parts).forEach(function (k) { if (parts[k]) { S.pending[k] = true; } });
    if (S.timer) { return; }
    S.timer = window.setTimeout(function () {
      var want = S.pending;
      S.pending = {};
      S.timer = null;
      if (!S.desk) { return; }
      var id = S.desk.id;
      var jobs = [];
      if (want.desk) {
        jobs.push(call("GET", "/desks/" + id).then(function (r) {
          if (r.status === 200 && S.desk && S.desk.id === id) { S.desk = r.data; }
          else if (r.status === 401) { showLogin(); }
        }));
      }
      if (want.queue || want.desk) {
        jobs.push(call("GET", "/desks/" + id + "/queue").then(function (r) {
          if (r.status === 200 && S.desk && S.desk.id === id) {
            S.queue = r.data;
            S.offset = r.data.server_time - Date.now();
            S.fetchedAt = Date.now();
          }
        }));
      }
      if (want.today) {
        jobs.push(call("GET", "/me/today?site=" + encodeURIComponent(S.desk.site)).then(function (r) {
          if (r.status === 200) { S.today = r.data; }
        }));
      }
      Promise.all(jobs).then(function () {
        if (!S.desk) { return; }
        if (S.desk.holder !== boot.user.username) { loadHome(); return; }
        renderDesk();
      });
    }, 30);
  }

  function stateOf() {
    var d = S.desk;
    if (!d) { return "none"; }
    if (d.paused) { return "paused"; }
    if (d.current) { return d.current.status; }
    return "idle";
  }

  function enabled() {
    var st = stateOf();
    var total = S.queue ? S.queue.waiting_total : 0;
    return {
      next: st === "idle" && total > 0,
      recall: st === "called",
      start: st === "called",
      finish: st === "serving",
      no_show: st === "called",
      transfer: st === "called" || st === "serving",
      pause: st === "idle" || st === "paused",
      leave: st === "idle" || st === "paused"
    };
  }

  function renderDesk() {
    var d = S.desk;
    if (!d) { return; }
    setText($("desk-name"), d.name);
    setText($("desk-site"), S.queue && S.queue.desk_id === d.id ? S.queue.site_name : "");
    var st = stateOf();
    var stateEl = $("desk-state");
    stateEl.className = "state state-" + st;
    if (st === "paused") {
      setText(stateEl, T.paused + " · " + T["reason_" + d.pause_reason] + " · " + T.since + " " + clockTime(d.paused_since));
    } else {
      setText(stateEl, st === "idle" ? T.idle : (st === "called" ? T.called : T.serving));
    }
    document.body.dataset.deskState = st;
    var on = enabled();
    Array.prototype.forEach.call(document.querySelectorAll(".actions [data-action]"), function (b) {
      b.disabled = !on[b.dataset.action];
    });
    setText(document.querySelector('[data-action="pause"] .label'), st === "paused" ? T.resume_label : T.pause_label);
    renderCurrent();
    renderServices();
    renderLine();
    renderToday();
    tick();
  }

  function renderCurrent() {
    var t = S.desk.current;
    var extra = S.queue && S.queue.current && t && S.queue.current.id === t.id ? S.queue.current : null;
    $("current").classList.toggle("empty", !t);
    setText($("current-code"), t ? t.code : "—");
    setText($("current-service"), t ? t.service_name : T.no_ticket);
    var pri = $("current-priority");
    pri.classList.toggle("hidden", !(t && t.priority));
    setText(pri, t && t.priority_label);
    setText($("current-status"), t ? (t.status === "called" ? T.called : T.serving) : "");
    var note = $("current-note");
    var noteText = "";
    if (extra && extra.from_service_name) { noteText = T.transferred_from + " " + extra.from_service_name + ". "; }
    if (extra && extra.note) { noteText += T.note + ": " + extra.note; }
    if (extra && extra.appointment) {
      noteText = T.appointment + " " + (extra.appointment.time || "") +
        (extra.appointment.name ? " · " + extra.appointment.name : "") + ". " + noteText;
    }
    note.classList.toggle("hidden", !noteText);
    setText(note, noteText);
  }

  function renderServices() {
    var body = document.querySelector("#services tbody");
    body.textContent = "";
    ((S.queue && S.queue.services) || []).forEach(function (s) {
      var tr = el("tr", null, null, {dataset: {service: s.code}});
      [s.name + " (" + s.code + ")", s.waiting_preferential, s.waiting_general, ""].forEach(function (v, i) {
        var td = el("td", v);
        if (i === 1) { td.dataset.field = "preferential"; }
        if (i === 2) { td.dataset.field = "general"; }
        if (i === 3) {
          td.dataset.field = "longest";
          td.dataset.base = s.longest_wait_seconds;
          td.dataset.target = s.target_wait_seconds;
          td.dataset.waiting = s.waiting;
        }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  function renderLine() {
    var list = $("line");
    list.textContent = "";
    var q = S.queue;
    setText($("line-total"), q ? "(" + q.waiting_total + ")" : "");
    if (!q || !q.line.length) {
      list.appendChild(el("li", T.empty_line, "muted empty"));
      return;
    }
    var canCall = stateOf() === "idle";
    q.line.forEach(function (t) {
      var li = el("li", null, null, {dataset: {ticket: t.id, code: t.code}});
      li.appendChild(el("strong", t.code, "code"));
      li.appendChild(el("span", t.service_name, "svc"));
      if (t.priority) { li.appendChild(el("span", t.priority_label, "badge-pref")); }
      if (t.transferred) {
        li.appendChild(el("span", T.result_transferred + (t.note ? ": " + t.note : ""), "muted"));
      }
      li.appendChild(el("span", null, "wait", {dataset: {base: t.waiting_seconds}}));
      if (t.may_call) {
        var b = el("button", T.call, "small-btn", {type: "button", disabled: !canCall,
                                                   dataset: {lineAction: "call"}});
        b.addEventListener("click", function () { callChosen(t); });
        li.appendChild(b);
      }
      if (!t.priority) {
        var m = el("button", T.mark, "small-btn", {type: "button", dataset: {lineAction: "mark"}});
        m.addEventListener("click", function () { openMark(t); });
        li.appendChild(m);
      }
      list.appendChild(li);
    });
  }

  function renderToday() {
    var t = S.today;
    if (!t) { return; }
    var root = $("today");
    setText(root.querySelector('[data-field="served"]'), t.served);
    setText(root.querySelector('[data-field="average"]'),
      t.average_service_seconds == null ? T.none : duration(t.average_service_seconds));
    setText(root.querySelector('[data-field="pause"]'), duration(t.pause_seconds));
    setText(root.querySelector('[data-field="no_show"]'), t.no_show);
    setText(root.querySelector('[data-field="transferred"]'), t.transferred);
    var list = $("today-tickets");
    list.textContent = "";
    t.tickets.slice(0, 5).forEach(function (row) {
      var text = clockTime(row.at) + " " + row.code + " · " + T["result_" + row.result];
      if (row.outcome) { text += " (" + T["outcome_" + row.outcome] + ")"; }
      if (row.service_seconds != null) { text += " · " + duration(row.service_seconds); }
      list.appendChild(el("li", text));
    });
  }

  /** Move every running timer on by the clock; no server round trip. */
  function tick() {
    if (!S.desk) { return; }
    var t = S.desk.current;
    var waited = $("timer-waited").querySelector("dd");
    var called = $("timer-called").querySelector("dd");
    var serving = $("timer-serving").querySelector("dd");
    $("timer-waited").classList.toggle("hidden", !t);
    $("timer-called").classList.toggle("hidden", !t);
    $("timer-serving").classList.toggle("hidden", !(t && t.started_at));
    if (t) {
      setText(waited, clockTime(t.issued_at) + " · " + T.waited + " " + duration(since(t.issued_at, t.called_at)));
      var calledText = clockTime(t.called_at) + " · " + duration(since(t.called_at, t.started_at));
      if (t.recalls) { calledText += " · " + (t.recalls + 1) + " " + T.recalls; }
      setText(called, calledText);
      if (t.started_at) {
        setText(serving, clockTime(t.started_at) + " · " + duration(since(t.started_at)));
      }
    }
    var elapsed = (Date.now() - S.fetchedAt) / 1000;
    Array.prototype.forEach.call(document.querySelectorAll('#services [data-field="longest"]'), function (td) {
      var waiting = Number(td.dataset.waiting);
      var secs = waiting ? Number(td.dataset.base) + elapsed : 0;
      setText(td, waiting ? duration(secs) : T.none);
      td.classList.toggle("late", waiting > 0 && secs > Number(td.dataset.target));
    });
    Array.prototype.forEach.call(document.querySelectorAll("#line .wait"), function (cell) {
      setText(cell, duration(Number(cell.dataset.base) + elapsed));
    });
    if (S.desk.paused) {
      var st = $("desk-state");
      setText(st, T.paused + " · " + T["reason_" + S.desk.pause_reason] + " · " + T.since + " " +
        clockTime(S.desk.paused_since) + " (" + duration(since(S.desk.paused_since)) + ")");
    }
  }

  // --- actions --------------------------------------------------------------------

  function run(promise, done) {
    S.busy = true;
    return promise.then(function (r) {
      S.busy = false;
      if (r.status >= 200 && r.status < 300) { done(r); } else { refusal(r); }
      refresh({ desk: true, queue: true, today: true });
    });
  }

  function ticketPath(action) { return "/tickets/" + S.desk.current.id + "/" + action; }

  var actions = {
    next: function () {
      run(call("POST", "/desks/" + S.desk.id + "/next"), function (r) {
        if (r.status === 204) { say(T.nobody, false); } else { say(fmt(T.done_called, r.data), false); }
      });
    },
    recall: function () {
      run(call("POST", ticketPath("recall")), function (r) { say(fmt(T.done_recalled, r.data), false); });
    },
    start: function () {
      run(call("POST", ticketPath("start")), function () { say("", false); });
    },
    finish: function () { openDialog("finish-dialog"); },
    no_show: function () {
      run(call("POST", ticketPath("no-show")), function (r) {
        say(fmt(T.done_no_show, r.data), false);
        offerUndo(r.data);
      });
    },
    transfer: function () {
      var select = $("transfer-dialog").querySelector("select");
      select.textContent = "";
      var here = S.desk.current.service;
      S.services.forEach(function (s) {
        if (s.code === here) { return; }
        select.appendChild(el("option", s.name + " (" + s.code + ")", null, {value: s.code}));
      });
      openDialog("transfer-dialog");
    },
    pause: function () {
      if (S.desk.paused) {
        run(call("POST", "/desks/" + S.desk.id + "/resume"), function () { say(T.done_resumed, false); });
      } else {
        openDialog("pause-dialog");
      }
    },
    leave: function () {
      var id = S.desk.id;
      S.busy = true;
      call("DELETE", "/desks/" + id + "/session").then(function (r) {
        S.busy = false;
        if (r.status !== 204) { refusal(r); refresh({ desk: true }); return; }
        say("", false);
        S.desk = null;
        loadHome();
      });
    }
  };

  /* A no-show can be taken back for a few seconds (a stray key, the wrong button). */
  function offerUndo(ticket) {
    clearUndo();
    var button = $("undo");
    S.undo = { ticket: ticket.id, code: ticket.code, until: Date.now() + boot.undo_seconds * 1000 };
    function show() {
      var left = Math.ceil((S.undo.until - Date.now()) / 1000);
      if (left <= 0) { clearUndo(); return; }
      setText(button, T.undo + " " + fmt(T.undo_seconds, { n: left }));
    }
    show();
    button.classList.remove("hidden");
    S.undo.timer = window.setInterval(show, 250);
  }

  function clearUndo() {
    if (S.undo) { window.clearInterval(S.undo.timer); }
    S.undo = null;
    $("undo").classList.add("hidden");
  }

  function undoNoShow() {
    if (!S.undo || S.busy) { return; }
    var ticket = S.undo.ticket;
    clearUndo();
    run(call("POST", "/tickets/" + ticket + "/undo-no-show"), function (r) {
      say(fmt(T.done_undone, r.data), false);
    });
  }

  function setShortcuts(on) {
    S.shortcuts = on;
    document.body.classList.toggle("no-shortcuts", !on);
    Array.prototype.forEach.call(document.querySelectorAll(".actions [data-action]"), function (b) {
      if (on) { b.setAttribute("aria-keyshortcuts", KEYS[b.dataset.action]); }
      else { b.removeAttribute("aria-keyshortcuts"); }
    });
  }

  function act(name) {
    if (S.busy || !S.desk) { return; }
    if (name !== "no_show") { clearUndo(); }
    var button = document.querySelector('.actions [data-action="' + name + '"]');
    if (!button || button.disabled) { return; }
    actions[name]();
  }

  function callChosen(t) {
    if (S.busy || !S.desk) { return; }
    run(call("POST", "/desks/" + S.desk.id + "/call", { ticket: t.id }), function (r) {
      say(fmt(T.done_called, r.data), false);
    });
  }

  var marking = null;

  function openMark(t) {
    marking = t;
    var dialog = $("mark-dialog");
    setText(dialog.querySelector('[data-field="code"]'), t.code);
    dialog.querySelector('[name="reason"]').value = "";
    openDialog("mark-dialog");
  }

  function openDialog(id) {
    var dialog = $(id);
    var form = dialog.querySelector("form");
    if (id !== "mark-dialog") { form.reset(); }
    dialog.showModal();
    var first = dialog.querySelector("select, input[type=text]");
    if (first) { first.focus(); }
  }

  function dialogOpen() { return !!document.querySelector("dialog[open]"); }

  function wireDialogs() {
    Array.prototype.forEach.call(document.querySelectorAll("dialog .cancel"), function (b) {
      b.addEventListener("click", function () { b.closest("dialog").close(); });
    });
    $("finish-dialog").querySelector("form").addEventListener("submit", function (e) {
      e.preventDefault();
      var form = e.target;
      var body = {};
      var outcome = form.querySelector('[name="outcome"]:checked').value;
      if (outcome) { body.outcome = outcome; }
      if (form.note.value.trim()) { body.note = form.note.value.trim(); }
      $("finish-dialog").close();
      run(call("POST", ticketPath("finish"), body), function (r) { say(fmt(T.done_finished, r.data), false); });
    });
    $("transfer-dialog").querySelector("form").addEventListener("submit", function (e) {
      e.preventDefault();
      var form = e.target;
      var body = { service: form.service.value };
      if (form.note.value.trim()) { body.note = form.note.value.trim(); }
      var code = S.desk.current.code;
      var label = form.service.options[form.service.selectedIndex].textContent;
      $("transfer-dialog").close();
      run(call("POST", ticketPath("transfer"), body), function () {
        say(fmt(T.done_transfer, { code: code, service: label }), false);
      });
    });
    var pauseDialog = $("pause-dialog");
    pauseDialog.querySelector("form").addEventListener("submit", function (e) {
      e.preventDefault();
      var reason = e.submitter && e.submitter.dataset.reason;
      if (!reason) { return; }
      pauseDialog.close();
      run(call("POST", "/desks/" + S.desk.id + "/pause", { reason: reason }), function () {
        say(T.done_paused, false);
      });
    });
    pauseDialog.addEventListener("keydown", function (e) {
      var buttons = pauseDialog.querySelectorAll("[data-reason]");
      var n = Number(e.key);
      if (n >= 1 && n <= buttons.length) {
        e.preventDefault();
        buttons[n - 1].click();
      }
    });
    $("mark-dialog").querySelector("form").addEventListener("submit", function (e) {
      e.preventDefault();
      var form = e.target;
      var t = marking;
      if (!t || !form.reason.value.trim()) { form.reason.focus(); return; }
      $("mark-dialog").close();
      run(call("POST", "/tickets/" + t.id + "/priority",
        { priority: form.priority.value, reason: form.reason.value.trim() }),
      function (r) { say(fmt(T.done_marked, r.data), false); });
    });
  }

  function wireKeys() {
    var byKey = {};
    Object.keys(KEYS).forEach(function (action) { byKey[KEYS[action]] = action; });
    document.addEventListener("keydown", function (e) {
      // Only a bare letter, never with a modifier (WCAG 2.1.4), never while typing in a field.
      if (!S.shortcuts || e.ctrlKey || e.metaKey || e.altKey || e.shiftKey || e.repeat || dialogOpen()) {
        return;
      }
      var target = e.target || {};
      var tag = target.tagName || "";
      if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable) { return; }
      var action = byKey[(e.key || "").toUpperCase()];
      if (action && S.desk) {
        e.preventDefault();
        act(action);
      }
    });
    Array.prototype.forEach.call(document.querySelectorAll(".actions [data-action]"), function (b) {
      b.addEventListener("click", function () { act(b.dataset.action); });
    });
    $("take-last").addEventListener("click", function (e) { takeDesk(Number(e.currentTarget.dataset.desk)); });
    $("undo").addEventListener("click", undoNoShow);
    setShortcuts(S.shortcuts);
    $("shortcuts-toggle").addEventListener("change", function (e) {
      var on = e.target.checked;
      call("PUT", "/me/preferences", { desk_shortcuts: on }).then(function (r) {
        if (r.status !== 200) { e.target.checked = !on; refusal(r); return; }
        setShortcuts(r.data.desk_shortcuts);
        say(r.data.desk_shortcuts ? T.shortcuts_on : T.shortcuts_off, false);
      });
    });
  }

  // --- live events -------------------------------------------------------------------

  function mine(payload) {
    if (!S.desk || !payload) { return false; }
    if (S.desk.current && payload.id === S.desk.current.id) { return true; }
    return payload.desk === S.desk.code && (!payload.site || payload.site === S.desk.site);
  }

  function onTicket(payload) {
    if (mine(payload)) { refresh({ desk: true, queue: true, today: true }); }
  }

  var socket = window.Turnos.connect({}, {
    connect: function () {
      var again = S.everOnline;
      S.everOnline = true;
      setOnline(true);
      if (again) { say(T.back_online, false); }
      if (S.desk) {
        socket.emit("join_desk", { desk: S.desk.id });
        refresh({ desk: true, queue: true, today: true });
      } else if (again) {
        loadHome();
      }
    },
    disconnect: function () { setOnline(false); },
    connect_error: function () {
      setOnline(false);
      // A refused socket (an expired login) does not retry by itself: tell the official.
      call("GET", "/me").then(function (r) { if (r.status === 401) { showLogin(); } });
    },
    snapshot: function (snap) { if (snap && snap.server_time) { S.offset = snap.server_time - Date.now(); } },
    queue_changed: function (p) {
      if (S.desk && S.queue && p.site_id === S.queue.site_id) { refresh({ queue: true }); }
    },
    ticket_called: onTicket,
    ticket_started: onTicket,
    ticket_finished: onTicket,
    ticket_no_show: onTicket,
    ticket_no_show_undone: onTicket,
    ticket_transferred: onTicket,
    ticket_cancelled: onTicket,
    desk_changed: function (p) {
      if (S.desk && p.desk_id === S.desk.id) {
        refresh({ desk: true, queue: true, today: true });
      } else if (!S.desk && !$("picker").classList.contains("hidden")) {
        loadHome();
      }
    },
    day_closed: function () { if (S.desk) { refresh({ desk: true, queue: true, today: true }); } }
  });

  wireDialogs();
  wireKeys();
  window.setInterval(tick, 1000);
  loadHome();
})();
