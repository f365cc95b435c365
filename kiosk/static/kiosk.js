/* Turnos kiosk: service -> preferential right -> ticket on screen while it prints -> thanks. */
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("kiosk-data").textContent);
  var S = data.strings;
  var STATIC = "/kiosk/static/pictograms/";
  var state = {
    step: "services", services: [], categories: [], service: null, group: null,
    requestId: null, busy: false, ticket: null, job: null, printDone: false,
    socketUp: false, fetchUp: true
  };
  var idleTimer = null, thanksTimer = null, pollTimer = null, slowTimer = null, probeTimer = null;
  /* Print results that arrive before the ticket's own answer (the socket can beat the request). */
  var early = {};

  function $(id) { return document.getElementById(id); }
  function fmt(text, values) {
    return String(text).replace(/\{(\w+)\}/g, function (_, k) { return values[k]; });
  }
  function withLang(path) { return path + (path.indexOf("?") < 0 ? "?" : "&") + "lang=" + data.lang; }
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  /* A request id that survives retries of the same ticket but not the next citizen. */
  function newRequestId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // --- steps ---------------------------------------------------------------------------

  function show(step) {
    state.step = step;
    Array.prototype.forEach.call(document.querySelectorAll(".k-step"), function (section) {
      section.classList.toggle("hidden", section.getAttribute("data-step") !== step);
    });
    document.body.setAttribute("data-step", step);
    armIdle();
  }

  /* Back to the start; for the next citizen (idle, or after "thanks") also in the kiosk's own language. */
  function reset(nextCitizen) {
    clearTimeout(thanksTimer); stopPrintWatch();
    if (nextCitizen && data.lang !== data.default_lang) {
      var params = new URLSearchParams(window.location.search);
      params.delete("lang");
      var query = params.toString();
      window.location.replace(window.location.pathname + (query ? "?" + query : ""));
      return;
    }
    state.service = null; state.group = null; state.requestId = null; state.busy = false;
    state.ticket = null; state.job = null;
    setBusy(false);
    show("services");
    loadServices();
  }

  function armIdle() {
    clearTimeout(idleTimer);
    if (state.step === "services") { return; }
    idleTimer = setTimeout(function () {
      if (state.busy) { armIdle(); return; }
      reset(true);
    }, data.idle_seconds * 1000);
  }

  document.addEventListener("pointerdown", armIdle, true);

  // --- services ------------------------------------------------------------------------

  function loadServices() {
    var site = encodeURIComponent(data.site);
    return Promise.all([
      Turnos.api("GET", withLang("/api/v1/sites/" + site + "/services")),
      Turnos.api("GET", withLang("/api/v1/sites/" + site + "/categories"))
    ]).then(function (answers) {
      reachable(true);
      if (answers[0].status !== 200 || answers[1].status !== 200) { return; }
      state.services = answers[0].data.services;
      state.siteOpen = answers[0].data.open;
      state.categories = answers[1].data.categories.filter(function (c) { return c.kiosk_visible; });
      renderServices();
      renderCategories();
    }, function () { reachable(false); });
  }

  function serviceButton(service) {
    var button = el("button", "k-service-btn");
    button.type = "button";
    button.setAttribute("data-service", service.code);
    button.appendChild(el("span", "k-service-name", service.name));
    if (service.description) { button.appendChild(el("span", "k-service-desc", service.description)); }
    if (service.requirements) {
      var req = el("span", "k-service-req");
      req.appendChild(el("strong", "", S.requirements + " "));
      req.appendChild(document.createTextNode(service.requirements));
      button.appendChild(req);
    }
    if (!service.open || state.siteOpen === false) {
      button.disabled = true;
      button.classList.add("k-closed");
      button.appendChild(el("span", "k-service-closed", S.closed));
    } else {
      button.appendChild(el("span", "k-service-count", fmt(S.waiting, { n: service.waiting })));
      button.addEventListener("click", function () { chooseService(service); });
    }
    return button;
  }

  function groupsOf(services) {
    var groups = [], byName = {};
    services.forEach(function (s) {
      var name = s.group || "";
      if (!byName[name]) { byName[name] = { name: name, services: [] }; groups.push(byName[name]); }
      byName[name].services.push(s);
    });
    return groups;
  }

  function renderServices() {
    var box = $("services"), groupsBox = $("groups");
    box.textContent = ""; groupsBox.textContent = "";
    $("site-closed").classList.toggle("hidden", state.siteOpen !== false);
    Turnos.setText($("site-closed"), S.site_closed);
    var groups = groupsOf(state.services);
    var groupFirst = state.services.length > data.group_first_above && groups.length > 1;
    groupsBox.classList.toggle("hidden", !groupFirst);
    box.classList.toggle("hidden", groupFirst);
    if (groupFirst) {
      groups.forEach(function (g) {
        var button = el("button", "k-group-btn", g.name || "—");
        button.type = "button";
        button.setAttribute("data-group", g.name);
        button.addEventListener("click", function () { chooseGroup(g); });
        groupsBox.appendChild(button);
      });
      return;
    }
    groups.forEach(function (g) {
      var section = el("div", "k-group");
      if (g.name) { section.appendChild(el("h2", "k-group-name", g.name)); }
      var list = el("div", "k-service-list");
      g.services.forEach(function (s) { list.appendChild(serviceButton(s)); });
      section.appendChild(list);
      box.appendChild(section);
    });
  }

  function chooseGroup(group) {
    state.group = group;
    Turnos.setText($("group-title"), group.name);
    var box = $("group-services");
    box.textContent = "";
    var list = el("div", "k-service-list");
    group.services.forEach(function (s) { list.appendChild(serviceButton(s)); });
    box.appendChild(list);
    show("group");
  }

  function chooseService(service) {
    state.service = service;
    state.requestId = newRequestId();
    Turnos.setText($("chosen-service"), service.name);
    setBusy(false);
    show("priority");
  }

  // --- preferential categories and issuing ---------------------------------------------------

  function renderCategories() {
    var box = $("categories");
    Array.prototype.forEach.call(box.querySelectorAll(".k-cat:not(.k-no)"), function (b) { b.remove(); });
    var none = $("priority-none");
    state.categories.forEach(function (c) {
      var button = el("button", "k-cat");
      button.type = "button";
      button.setAttribute("data-priority", c.code);
      var img = el("img");
      img.alt = "";
      img.width = 96; img.height = 96;
      img.src = STATIC + (data.pictograms.indexOf(c.pictogram) >= 0 ? c.pictogram : "preferencial") + ".svg";
      button.appendChild(img);
      var translated = data.category_labels[c.code];
      var label = translated && data.default_labels[c.code] === c.label ? translated : c.label;
      button.appendChild(el("span", "", label));
      button.addEventListener("click", function () { issue(c.code); });
      box.insertBefore(button, none);
    });
  }

  function setBusy(busy) {
    state.busy = busy;
    Array.prototype.forEach.call(document.querySelectorAll(".k-cat, #error-retry"), function (b) {
      b.disabled = busy;
    });
    $("busy").classList.toggle("hidden", !busy);
    Turnos.setText($("busy"), S.busy);
  }

  function issue(priority) {
    if (state.busy || !state.service) { return; }
    setBusy(true);
    state.lastPriority = priority;
    var body = { service: state.service.code, request_id: state.requestId };
    if (priority) { body.priority = priority; }
    if (data.preview) { body.site = data.site; }
    Turnos.api("POST", withLang("/kiosk/api/tickets"), body).then(function (answer) {
      reachable(true);
      if (answer.status === 201 || answer.status === 200) {
        showTicket(answer.data);
        return;
      }
      if (answer.data && answer.data.error === "csrf_failed") { window.location.reload(); return; }
      failIssue((answer.data && answer.data.message) || S.error, false);
    }, function () {
      reachable(false);
      failIssue(S.error, true);
    });
  }

  function failIssue(message, canRetry) {
    setBusy(false);
    Turnos.setText($("error-text"), message);
    $("error-retry").classList.toggle("hidden", !canRetry);
    show("error");
  }

  $("error-retry").addEventListener("click", function () {
    show("priority");
    issue(state.lastPriority);
  });
  $("priority-none").addEventListener("click", function () { issue(""); });

  // --- the ticket on screen and its print outcome ---------------------------------------------

  function showTicket(ticket) {
    state.ticket = ticket;
    state.printDone = false;
    setBusy(false);
    Turnos.setText($("t-code"), ticket.code);
    Turnos.setText($("t-service"), ticket.service_name);
    $("t-pref").classList.toggle("hidden", !ticket.priority);
    var translated = data.category_labels[ticket.priority];
    Turnos.setText($("t-pref"), ticket.priority ? S.preferential + " · " +
      (translated && data.default_labels[ticket.priority] === ticket.priority_label ? translated
        : ticket.priority_label) : "");
    Turnos.setText($("t-ahead"), fmt(S.ahead, { n: ticket.ahead }));
    var wait = ticket.estimated_wait_seconds;
    Turnos.setText($("t-wait"), wait && wait >= 60 ? fmt(S.wait_minutes, { m: Math.ceil(wait / 60) })
      : S.wait_soon);
    $("t-qr").src = ticket.qr_url;
    show("ticket");
    watchPrint(ticket.print);
  }

  function printText(kind) {
    var node = $("t-print");
    node.className = "k-print k-print-" + kind;
    Turnos.setText(node, S[kind]);
  }

  function watchPrint(job) {
    stopPrintWatch();
    state.job = job;
    if (!job) { printText("unconfirmed"); return; }
    if (job.status === "printed" || job.status === "failed") { printOutcome(job); return; }
    if (early[job.id]) { printOutcome(early[job.id]); return; }
    printText("printing");
    pollTimer = setTimeout(poll, 2500);
    slowTimer = setTimeout(function () { if (!state.printDone) { printText("slow"); } }, 15000);
  }

  function poll() {
    if (!state.job || state.printDone) { return; }
    Turnos.api("GET", withLang("/kiosk/api/jobs/" + state.job.id)).then(function (answer) {
      if (answer.status === 200 && (answer.data.status === "printed" || answer.data.status === "failed")) {
        printOutcome({ id: answer.data.id, ok: answer.data.status === "printed",
                       status: answer.data.printer_status, error: answer.data.error });
      }
    }, function () { /* the socket or the next poll will tell */ }).then(function () {
      if (!state.printDone && state.step === "ticket") { pollTimer = setTimeout(poll, 1500); }
    });
  }

  function printOutcome(result) {
    if (state.printDone) { return; }
    var ok = result.ok !== undefined ? result.ok : result.status === "printed";
    var status = result.printer_status || result.status;
    state.printDone = true;
    stopPrintWatch();
    if (!ok) { printText(result.error === "unconfirmed" ? "unconfirmed" : "failed"); }
    else if (status === "ok" || status === "near_end") { printText("printed"); }
    else { printText("unconfirmed"); }
    armIdle();
  }

  function stopPrintWatch() {
    clearTimeout(pollTimer); clearTimeout(slowTimer);
  }

  $("t-done").addEventListener("click", thanks);

  function thanks() {
    stopPrintWatch();
    show("thanks");
    thanksTimer = setTimeout(function () { reset(true); }, 4000);
  }

  // --- back buttons and language -------------------------------------------------------------

  Array.prototype.forEach.call(document.querySelectorAll("[data-back]"), function (button) {
    button.addEventListener("click", function () {
      var target = button.getAttribute("data-back");
      if (target === "service-list") { target = state.group ? "group" : "services"; }
      if (target === "services") { reset(); } else { setBusy(false); show(target); }
    });
  });

  $("lang-switch").addEventListener("click", function () {
    var params = new URLSearchParams(window.location.search);
    params.set("lang", $("lang-switch").getAttribute("data-lang"));
    window.location.search = params.toString();
  });

  // --- connection: "fuera de servicio" when neither the socket nor a request gets through --------

  function reachable(up) {
    state.fetchUp = up;
    updateOffline();
    if (!up) { probeSoon(); }
  }

  function updateOffline() {
    var down = !state.socketUp && !state.fetchUp;
    $("offline").classList.toggle("hidden", !down);
    document.body.classList.toggle("k-down", down);
  }

  function probeSoon() {
    if (probeTimer) { return; }
    probeTimer = setTimeout(probe, 2000);
  }

  function probe() {
    probeTimer = null;
    fetch("/healthz", { cache: "no-store", credentials: "same-origin" }).then(function (r) {
      return r.ok;
    }, function () { return false; }).then(function (ok) {
      var wasDown = !state.fetchUp;
      state.fetchUp = ok;
      updateOffline();
      if (ok && wasDown && state.step === "services") { loadServices(); }
      if (!ok || !state.socketUp) { probeSoon(); }
    });
  }

  var socket = Turnos.connect({}, {
    connect: function () {
      var wasDown = !state.socketUp;
      state.socketUp = true;
      state.fetchUp = true;
      updateOffline();
      if (wasDown && state.step === "services") { loadServices(); }
    },
    disconnect: function () { state.socketUp = false; probe(); },
    connect_error: function () { state.socketUp = false; probeSoon(); },
    print_result: function (result) {
      if (state.job && result.job === state.job.id) { printOutcome(result); return; }
      early[result.job] = result;
      var keys = Object.keys(early);
      if (keys.length > 20) { delete early[keys[0]]; }
    },
    queue_changed: function (payload) {
      if (state.step !== "services" || !payload || !payload.services) { return; }
      var counts = {};
      payload.services.forEach(function (s) { counts[s.code] = s.waiting; });
      Array.prototype.forEach.call(document.querySelectorAll(".k-service-btn"), function (b) {
        var code = b.getAttribute("data-service"), count = b.querySelector(".k-service-count");
        if (count && counts[code] !== undefined) { Turnos.setText(count, fmt(S.waiting, { n: counts[code] })); }
      });
    },
    // An administrator changed services or hours: the start screen shows it at once;
    // a citizen in the middle of a ticket sees it from the next start (reset reloads).
    config_changed: function () { if (state.step === "services") { loadServices(); } },
    device_revoked: function () { window.location.reload(); }
  });
  window.TurnosKiosk = { socket: socket, state: state };

  show("services");
  loadServices();
})();
