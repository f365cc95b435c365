/* Turnos: small helpers shared by every page (no build step). */
(function () {
  "use strict";

  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  /** Call the JSON API; resolves to {status, data}; rejects only when the network fails. */
  function api(method, path, body) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf }
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(function (response) {
      if (response.status === 204) { return { status: 204, data: null }; }
      return response.json().then(function (data) {
        return { status: response.status, data: data };
      }, function () {
        return { status: response.status, data: { error: "bad_response", message: "" } };
      });
    });
  }

  /** Open a Socket.IO connection that reconnects by itself with backoff. */
  function connect(auth, handlers) {
    /* global io */
    var socket = io({
      auth: auth || {},
      transports: ["websocket", "polling"],
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      randomizationFactor: 0.3
    });
    Object.keys(handlers || {}).forEach(function (name) { socket.on(name, handlers[name]); });
    return socket;
  }

  /** Format seconds as m:ss or h:mm:ss. */
  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m));
    return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
  }

  /**
   * Make an element: its text (set as text, never HTML: no injection), its class, and
   * properties such as type, href or disabled (``dataset`` is merged into the element's).
   */
  function el(tag, text, cls, props) {
    var node = document.createElement(tag);
    if (text != null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    Object.keys(props || {}).forEach(function (key) {
      if (key === "dataset") { Object.assign(node.dataset, props.dataset); }
      else { node[key] = props[key]; }
    });
    return node;
  }

  /** Replace an element's children with text (never HTML: no injection). */
  function setText(el, text) { if (el) { el.textContent = text == null ? "" : String(text); } }

  /** Shrink an element's font until its text fits its box on one line (a ticket code never wraps). */
  function fitText(el) {
    if (!el) { return; }
    el.style.fontSize = "";
    var size = parseFloat(window.getComputedStyle(el).fontSize);
    while (el.scrollWidth > el.clientWidth && size > 12) {
      size = Math.floor(size * 0.94);
      el.style.fontSize = size + "px";
    }
  }

  window.Turnos = { api: api, connect: connect, duration: duration, el: el, setText: setText,
                    csrf: csrf, fitText: fitText };
})();
