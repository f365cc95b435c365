// A server that marks its cookies Secure keeps no session and no device pairing over plain
// http: the browser drops the cookies, and a login or a pairing would fail (or use up its
// one-time code) with a misleading message. Show the page's notice with the https address,
// and keep its forms from being sent.
(function () {
  "use strict";
  var notice = document.getElementById("https-needed");
  if (!notice || window.location.protocol !== "http:") { return; }
  notice.hidden = false;
  Array.prototype.forEach.call(document.querySelectorAll("main form button[type=submit]"), function (button) {
    button.disabled = true;
  });
}());
