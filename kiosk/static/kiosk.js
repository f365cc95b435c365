/* Turnos kiosk: service -> preferential right -> ticket on screen while it prints -> thanks. */
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("kiosk-data").textContent);
  var S = data.strings;
  var STATIC = "/kiosk/static/pictograms/";
  var state = {
    step: "services", services: [], categories: [], service: null, group: null,
    requestId: null, busy: false, ticket: null, job: null, printDone: false,
    socketUp: false, fetchUp: true,
    pages: { services: 0, group: 0 },   // the page of tiles shown on each step
    guide: false,                       // the spoken guide is on (this citizen only)
    armed: null                         // with the guide on: the tile touched once (a second touch chooses)
  };
  var idleTimer = null, thanksTimer = null, pollTimer = null, slowTimer = null, probeTimer = null;
  var moreTimer = null;
  /* Print results that arrive before the ticket's own answer (the socket can beat the request). */
  var early = {};

  function $(id) { return document.getElementById(id); }
  function fmt(text, values) {
    return String(text).replace(/\{(\w+)\}/g, function (_, k) { return values[k]; });
  }
  function withLang(path) { return path + (path.indexOf("?") < 0 ? "?" : "&") + "lang=" + data.lang; }
  function withSite(path) {
    return data.preview ? path + (path.indexOf("?") < 0 ? "?" : "&") + "site=" + encodeURIComponent(data.site) : path;
  }
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
    // The tiles are laid out where they are seen: a list that arrived while another step was
    // shown was measured hidden (everything "fits", so the groups gave way to all the services).
    if (step === "services" && state.services) { renderServices(); }
    disarm();
    armIdle();
    if (step !== "ticket") { speak("step", step === "error" ? "services" : step); }
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
    state.ticket = null; state.job = null; state.pages.services = 0; state.pages.group = 0;
    if (nextCitizen) { setGuide(false); }
    setBusy(false);
    show("services");
    loadServices();
  }

  /* Untouched for idle_seconds: ask "¿Necesita más tiempo?" and give more_time_seconds to answer
   * with one touch (WCAG 2.2.1) before going back to the start for the next citizen. */
  function armIdle() {
    clearTimeout(idleTimer);
    hideMoreTime();
    var atRest = state.step === "services" && !state.pages.services && !state.guide;
    if (atRest) { return; }
    idleTimer = setTimeout(function () {
      if (state.busy) { armIdle(); return; }
      askMoreTime();
    }, data.idle_seconds * 1000);
  }

  function askMoreTime() {
    var left = data.more_time_seconds;
    var box = $("more-time");
    function count() {
      Turnos.setText($("more-time-left"), fmt(S.more_time_left, { n: left }));
      if (left <= 0) { hideMoreTime(); reset(true); return; }
      left -= 1;
      moreTimer = setTimeout(count, 1000);
    }
    box.classList.remove("hidden");
    document.body.classList.add("k-asking");
    $("more-time-yes").focus();
    speak("step", "more_time");
    count();
  }

  function hideMoreTime() {
    clearTimeout(moreTimer);
    $("more-time").classList.add("hidden");
    document.body.classList.remove("k-asking");
  }

  // Any touch (or key) means someone is there: it answers the question and restarts the wait.
  document.addEventListener("pointerdown", armIdle, true);
  document.addEventListener("keydown", armIdle, true);
  $("more-time-yes").addEventListener("click", armIdle);

  // --- services ------------------------------------------------------------------------

  function loadServices() {
    return Turnos.api("GET", withSite(withLang("/kiosk/api/start"))).then(function (answer) {
      reachable(true);
      if (answer.status !== 200) { return; }
      state.services = answer.data.services;
      state.siteOpen = answer.data.open;
      state.categories = answer.data.categories;
      $("checkin-open").classList.toggle("hidden", !answer.data.checkin);
      if (state.step === "services") { renderServices(); }  // otherwise when it is shown again
      renderCategories();
    }, function () { reachable(false); });
  }

  function picture(src) {
    var img = el("img", "k-pict");
    img.alt = "";
    img.width = 96; img.height = 96;
    img.src = src;
    return img;
  }

  function serviceButton(service) {
    var button = el("button", "k-service-btn");
    button.type = "button";
    button.setAttribute("data-service", service.code);
    button.appendChild(picture(STATIC + "services/" + service.pictogram + ".svg"));
    var text = el("span", "k-tile-text");
    text.appendChild(el("span", "k-service-name", service.name));
    if (!service.open || state.siteOpen === false) {
      button.disabled = true;
      button.classList.add("k-closed");
      text.appendChild(el("span", "k-service-closed", S.closed));
    } else {
      text.appendChild(el("span", "k-service-count", fmt(S.waiting, { n: service.waiting })));
      tappable(button, "service", service.code, function () { chooseService(service); });
    }
    button.appendChild(text);
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

  /* Show the tiles a page at a time: as many as fit between the title and the pager, with
   * "Anterior" / "Más trámites" and "Página n de m" when they do not all fit. */
  function paged(box, pager, tiles, key) {
    box.textContent = "";
    tiles.forEach(function (tile) { box.appendChild(tile); });
    pager.classList.add("hidden");
    // A long name gets a smaller type rather than losing its end.
    Array.prototype.forEach.call(box.querySelectorAll(".k-service-name"), function (name) {
      var size = parseFloat(getComputedStyle(name).fontSize), least = size * 0.7;
      while (name.scrollHeight > name.clientHeight + 1 && size > least) {
        size *= 0.92;
        name.style.fontSize = size + "px";
      }
    });
    box.style.gridAutoRows = "";
    var main = box.closest(".k-main");
    var bottom = main.getBoundingClientRect().bottom - parseFloat(getComputedStyle(main).paddingBottom);
    if (!tiles.length || box.getBoundingClientRect().bottom <= bottom) {
      state.pages[key] = 0;
      // Few services: taller tiles (up to half as tall again), easier to read and to touch.
      if (tiles.length) {
        var cols = getComputedStyle(box).gridTemplateColumns.split(" ").length;
        var rowsUsed = Math.ceil(tiles.length / cols), gapY = parseFloat(getComputedStyle(box).rowGap) || 0;
        var base = tiles[0].getBoundingClientRect().height;
        var spare = (bottom - box.getBoundingClientRect().top + gapY) / rowsUsed - gapY;
        if (spare > base) { box.style.gridAutoRows = Math.floor(Math.min(base * 1.5, spare)) + "px"; }
      }
      return;
    }
    pager.classList.remove("hidden");
    var style = getComputedStyle(box);
    var columns = style.gridTemplateColumns.split(" ").length;
    var gap = parseFloat(style.rowGap) || 0;
    var tileHeight = tiles[0].getBoundingClientRect().height;
    var room = bottom - box.getBoundingClientRect().top - pager.getBoundingClientRect().height -
      parseFloat(getComputedStyle(pager).marginTop);
    var rows = Math.max(1, Math.floor((room + gap) / (tileHeight + gap)));
    var per = rows * columns;
    var pages = Math.ceil(tiles.length / per);
    var page = state.pages[key] = Math.min(Math.max(0, state.pages[key]), pages - 1);
    tiles.forEach(function (tile, i) { tile.classList.toggle("hidden", Math.floor(i / per) !== page); });
    Turnos.setText(pager.querySelector(".k-page-of"), fmt(S.page, { n: page + 1, total: pages }));
    pager.querySelector('[data-page="-1"]').disabled = page === 0;
    pager.querySelector('[data-page="1"]').disabled = page === pages - 1;
  }

  function renderServices() {
    var box = $("services");
    $("site-closed").classList.toggle("hidden", state.siteOpen !== false);
    Turnos.setText($("site-closed"), S.site_closed);
    var groups = groupsOf(state.services);
    var all = state.services.map(serviceButton);
    paged(box, $("pager"), all, "services");
    // More services than one screen holds, in several groups: the group first, then the service.
    var groupFirst = !$("pager").classList.contains("hidden") && groups.length > 1;
    if (!groupFirst) { return; }
    state.pages.services = Math.min(state.pages.services, groups.length - 1);
    paged(box, $("pager"), groups.map(function (g) {
      var button = el("button", "k-group-btn");
      button.type = "button";
      button.setAttribute("data-group", g.name);
      button.appendChild(picture(STATIC + "services/" + g.services[0].pictogram + ".svg"));
      var text = el("span", "k-tile-text");
      text.appendChild(el("span", "k-service-name", g.name || "—"));
      text.appendChild(el("span", "k-service-count", fmt(S.services_in_group, { n: g.services.length })));
      button.appendChild(text);
      tappable(button, "group", g.name, function () { chooseGroup(g); });
      return button;
    }), "services");
  }

  function chooseGroup(group) {
    state.group = group;
    state.pages.group = 0;
    Turnos.setText($("group-title"), group.name);
    show("group");
    renderGroup();
  }

  function renderGroup() {
    if (!state.group) { return; }
    paged($("group-services"), $("group-pager"), state.group.services.map(serviceButton), "group");
  }

  Array.prototype.forEach.call(document.querySelectorAll(".k-page-btn"), function (button) {
    button.addEventListener("click", function () {
      var key = button.closest("#group-pager") ? "group" : "services";
      state.pages[key] += Number(button.getAttribute("data-page"));
      if (key === "group") { renderGroup(); } else { renderServices(); }
      armIdle();
    });
  });

  window.addEventListener("resize", function () {
    if (state.step === "services") { renderServices(); }
    if (state.step === "group") { renderGroup(); }
  });

  function chooseService(service) {
    state.service = service;
    state.requestId = newRequestId();
    Turnos.setText($("chosen-service"), service.name);
    Turnos.setText($("chosen-desc"), service.description || "");
    $("chosen-req").classList.toggle("hidden", !service.requirements);
    Turnos.setText($("chosen-req").querySelector("span"), service.requirements || "");
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
      button.appendChild(picture(STATIC + c.pictogram + ".svg"));
      button.appendChild(el("span", "", c.label));
      tappable(button, "category", c.code, function () { issue(c.code); });
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

  function failIssue(message, canRetry, walkIn) {
    setBusy(false);
    Turnos.setText($("error-title"), walkIn !== undefined ? S.checkin_title : S.error_title);
    Turnos.setText($("error-text"), message);
    $("error-retry").classList.toggle("hidden", !canRetry);
    state.walkIn = walkIn || null;
    $("error-walk-in").classList.toggle("hidden", !walkIn);
    show("error");
  }

  // --- «Tengo cita»: a code from the on-screen keys or a barcode reader ----------------------------

  var KEYS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  (function buildKeys() {
    var box = $("checkin-keys");
    KEYS.split("").forEach(function (ch) {
      var key = el("button", "", ch);
      key.type = "button";
      key.addEventListener("click", function () { $("checkin-code").value += ch; });
      box.appendChild(key);
    });
    var del = el("button", "k-key-wide", S["delete"]);
    del.type = "button";
    del.addEventListener("click", function () {
      $("checkin-code").value = $("checkin-code").value.slice(0, -1);
    });
    box.appendChild(del);
  })();

  function openCheckin() {
    $("checkin-code").value = "";
    $("checkin-busy").classList.add("hidden");
    show("checkin");
    $("checkin-code").focus();
  }

  function checkIn(code) {
    if (state.busy || !code) { return; }
    state.busy = true;
    $("checkin-busy").classList.remove("hidden");
    Turnos.setText($("checkin-busy"), S.busy);
    var body = { code: code };
    if (data.preview) { body.site = data.site; }
    Turnos.api("POST", withLang("/kiosk/api/checkin"), body).then(function (answer) {
      state.busy = false;
      reachable(true);
      if (answer.status === 201 || answer.status === 200) { showTicket(answer.data); return; }
      if (answer.data && answer.data.error === "csrf_failed") { window.location.reload(); return; }
      var walkIn = answer.data && answer.data.service ?
        state.services.filter(function (s) { return s.code === answer.data.service; })[0] : null;
      failIssue((answer.data && answer.data.message) || S.error, false, walkIn || false);
    }, function () {
      state.busy = false;
      reachable(false);
      failIssue(S.error, false, false);
    });
  }

  $("checkin-open").addEventListener("click", openCheckin);
  $("checkin-go").addEventListener("click", function () { checkIn($("checkin-code").value); });
  $("checkin-code").addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); checkIn($("checkin-code").value); }
  });
  $("error-walk-in").addEventListener("click", function () {
    if (state.walkIn) { chooseService(state.walkIn); }
  });

  /* A barcode reader in keyboard mode types a whole code in a few milliseconds and presses
     Enter. At rest (a step with nothing to type) such a burst is taken as a scan. */
  var burst = "", burstAt = 0;
  document.addEventListener("keydown", function (event) {
    if (state.step === "checkin" || state.busy || event.ctrlKey || event.altKey || event.metaKey) { return; }
    var now = Date.now();
    if (now - burstAt > 100) { burst = ""; }
    burstAt = now;
    if (event.key === "Enter") {
      if (burst.length >= 8 && $("checkin-open") && !$("checkin-open").classList.contains("hidden")) {
        var scanned = burst;
        burst = "";
        show("checkin");
        $("checkin-code").value = scanned;
        checkIn(scanned);
      }
      burst = "";
      return;
    }
    if (event.key.length === 1) { burst += event.key; }
  });

  $("error-retry").addEventListener("click", function () {
    show("priority");
    issue(state.lastPriority);
  });
  tappable($("priority-none"), "category", "none", function () { issue(""); });

  // --- the ticket on screen and its print outcome ---------------------------------------------

  function showTicket(ticket) {
    state.ticket = ticket;
    $("t-checked").classList.toggle("hidden", !ticket.checked_in);
    Turnos.setText($("t-checked"), ticket.message || "");
    state.printDone = false;
    setBusy(false);
    Turnos.setText($("t-code"), ticket.code);
    Turnos.setText($("t-service"), ticket.service_name);
    $("t-pref").classList.toggle("hidden", !ticket.priority);
    var category = state.categories.filter(function (c) { return c.code === ticket.priority; })[0];
    Turnos.setText($("t-pref"), ticket.priority ? S.preferential + " · " +
      (category ? category.label : ticket.priority_label) : "");
    Turnos.setText($("t-ahead"), fmt(S.ahead, { n: ticket.ahead }));
    var wait = ticket.estimated_wait_seconds;
    Turnos.setText($("t-wait"), wait && wait >= 60 ? fmt(S.wait_minutes, { m: Math.ceil(wait / 60) })
      : S.wait_soon);
    $("t-qr").src = ticket.qr_url;
    show("ticket");
    Turnos.fitText($("t-code"));
    speak("ticket", ticket.status_url.split("/").pop());
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

  // --- the spoken guide (the server's Spanish voice) --------------------------------------------

  var voice = new Audio();
  voice.preload = "auto";

  function speak(kind, key) {
    if (!state.guide) { return; }
    voice.pause();
    voice.src = withSite("/kiosk/audio/" + kind + "/" + encodeURIComponent(key) + ".wav");
    var playing = voice.play();
    if (playing && playing.catch) { playing.catch(function () { /* no sound device: the screen still works */ }); }
  }

  /* A tile's action; with the guide on, the first touch says its name and the second chooses it. */
  function tappable(button, kind, key, action) {
    button.addEventListener("click", function () {
      if (!state.guide || state.armed === button) { disarm(); action(); return; }
      disarm();
      state.armed = button;
      button.classList.add("k-armed");
      button.setAttribute("aria-describedby", "guide-hint");
      speak(kind, key);
    });
  }

  function disarm() {
    if (state.armed) {
      state.armed.classList.remove("k-armed");
      state.armed.removeAttribute("aria-describedby");
    }
    state.armed = null;
  }

  function setGuide(on) {
    state.guide = on;
    var button = $("guide");
    if (!button) { return; }
    button.setAttribute("aria-pressed", on ? "true" : "false");
    Turnos.setText($("guide-label"), on ? S.guide_on : S.guide_off);
    document.body.classList.toggle("k-guided", on);
    disarm();
    if (!on) { voice.pause(); }
  }

  if ($("guide")) {
    var hint = el("span", "k-sr-only", S.guide_tap_again);
    hint.id = "guide-hint";
    document.body.appendChild(hint);
    $("guide").addEventListener("click", function () {
      setGuide(!state.guide);
      armIdle();
      speak("step", state.step === "ticket" ? "thanks" : state.step);
    });
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
