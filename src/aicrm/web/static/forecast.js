// Forecast page charts: Chart.js (served from node_modules) draws the numbers the server put
// in #forecast-data; the tables under each chart carry the same numbers without JavaScript.
(function () {
  "use strict";

  var COLORS = {
    commit: "#4f46e5",
    best: "#a5b4fc",
    pipeline: "#e0e7ff",
    forecast: "#0f766e",
    expected: "#d97706",
    actual: "#16a34a",
    baseline: "#64748b",
  };

  function formatter(currency) {
    try {
      var f = new Intl.NumberFormat(undefined, {
        style: "currency",
        currency: currency,
        maximumFractionDigits: 0,
      });
      return function (v) { return f.format(v); };
    } catch (e) {
      return function (v) { return Math.round(v).toLocaleString() + " " + currency; };
    }
  }

  function compact(currency) {
    try {
      var f = new Intl.NumberFormat(undefined, {
        style: "currency",
        currency: currency,
        notation: "compact",
        maximumFractionDigits: 1,
      });
      return function (v) { return f.format(v); };
    } catch (e) {
      return formatter(currency);
    }
  }

  function options(money, axisMoney, stacked) {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: {
        legend: { position: "bottom", labels: { boxWidth: 12 } },
        tooltip: {
          callbacks: {
            label: function (item) {
              return " " + item.dataset.label + ": " + money(item.parsed.y);
            },
          },
        },
      },
      scales: {
        x: { stacked: stacked, grid: { display: false } },
        y: {
          stacked: stacked,
          beginAtZero: true,
          ticks: { callback: function (v) { return axisMoney(v); } },
        },
      },
    };
  }

  function line(label, data, color, dashed, stack) {
    return {
      type: "line",
      label: label,
      data: data,
      borderColor: color,
      backgroundColor: color,
      borderWidth: 2,
      borderDash: dashed ? [6, 4] : [],
      pointRadius: 3,
      tension: 0.2,
      stack: stack,
      order: 0,
    };
  }

  function bar(label, data, color, stack) {
    return { type: "bar", label: label, data: data, backgroundColor: color, stack: stack, order: 1 };
  }

  function draw() {
    var source = document.getElementById("forecast-data");
    if (!source || typeof window.Chart === "undefined") return;
    var data = JSON.parse(source.textContent);
    var money = formatter(data.currency);
    var axis = compact(data.currency);

    var next = document.getElementById("forecast-chart");
    if (next && !next.dataset.drawn) {
      next.dataset.drawn = "1";
      new window.Chart(next, {
        data: {
          labels: data.months,
          datasets: [
            // each line is its own stack so the stacked axis leaves it unstacked
            line("Forecast (won + expected + new business)", data.forecast, COLORS.forecast, false, "l1"),
            line("Expected from open deals", data.expected, COLORS.expected, true, "l2"),
            bar("Commit", data.commit, COLORS.commit, "pipeline"),
            bar("Best case (beyond commit)", data.best_case, COLORS.best, "pipeline"),
            bar("Pipeline (the rest)", data.pipeline, COLORS.pipeline, "pipeline"),
          ],
        },
        options: options(money, axis, true),
      });
    }

    var past = document.getElementById("backtest-chart");
    if (past && data.backtest && !past.dataset.drawn) {
      past.dataset.drawn = "1";
      new window.Chart(past, {
        data: {
          labels: data.backtest.months,
          datasets: [
            line("Previous month (baseline)", data.backtest.baseline, COLORS.baseline, true, "l1"),
            bar("Forecast at the month's start", data.backtest.forecast, COLORS.commit, "f"),
            bar("Actually won", data.backtest.actual, COLORS.actual, "a"),
          ],
        },
        options: options(money, axis, false),
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
