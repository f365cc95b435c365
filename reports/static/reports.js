/* Report page: period presets and the charts (Chart.js, vendored). */
(function () {
  "use strict";

  var form = document.getElementById("filters");
  var period = document.getElementById("period");
  if (form && period) {
    period.addEventListener("change", function () {
      if (period.value !== "custom") { form.submit(); }
    });
    ["from", "to"].forEach(function (id) {
      document.getElementById(id).addEventListener("change", function () { period.value = "custom"; });
    });
  }

  var dataNode = document.getElementById("chart-data");
  if (!dataNode || typeof Chart === "undefined") { return; }
  var data = JSON.parse(dataNode.textContent);
  var labels = JSON.parse(document.getElementById("chart-labels").textContent);
  var brand = "#0b4f8a", accent = "#0a7a3b", warn = "#b35c00";
  var minutes = function (s) { return s == null ? null : Math.round(s / 6) / 10; };
  Chart.defaults.font.size = 14;
  Chart.defaults.animation = false;

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) { canvas.chart = new Chart(canvas, config); }
  }

  draw("chart-hourly", {
    type: "bar",
    data: {
      labels: data.hourly.map(function (h) { return String(h.hour).padStart(2, "0") + ":00"; }),
      datasets: [
        { label: labels.issued, data: data.hourly.map(function (h) { return h.issued; }), backgroundColor: brand },
        { label: labels.served, data: data.hourly.map(function (h) { return h.served; }), backgroundColor: accent }
      ]
    },
    options: { responsive: true, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
  });

  draw("chart-distribution", {
    type: "bar",
    data: {
      labels: data.distribution.map(function (b) {
        return b.to_minutes == null ? "≥ " + b.from_minutes : b.from_minutes + "–" + b.to_minutes;
      }),
      datasets: [{ label: labels.turns + " (" + labels.minutes + ")",
                   data: data.distribution.map(function (b) { return b.count; }), backgroundColor: brand }]
    },
    options: { responsive: true, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
  });

  draw("chart-services", {
    type: "bar",
    data: {
      labels: data.services.map(function (s) { return s.label; }),
      datasets: [
        { label: labels.wait_mean, data: data.services.map(function (s) { return minutes(s.wait_mean); }), backgroundColor: brand },
        { label: labels.wait_p90, data: data.services.map(function (s) { return minutes(s.wait_p90); }), backgroundColor: warn },
        { label: labels.service_mean, data: data.services.map(function (s) { return minutes(s.service_mean); }), backgroundColor: accent }
      ]
    },
    options: { responsive: true, indexAxis: "y", scales: { x: { beginAtZero: true } } }
  });
  document.body.setAttribute("data-charts", "ready");
})();
