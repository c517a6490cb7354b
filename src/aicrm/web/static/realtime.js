// aicrm live updates: one websocket per page to /ws (the session cookie authenticates it),
// subscribed to the organization's and the user's channels. Every server message is dispatched
// as a `document` CustomEvent named `aicrm:<type>` (aicrm:notification, aicrm:deal_updated, …)
// with the message as `detail`, and to handlers registered with window.aicrmRealtime.on(type, fn).
// The leads kanban and the deal board follow other people's changes without a reload.
(function () {
  "use strict";

  var body = document.body;
  var orgId = body && body.dataset.orgId;
  var userId = body && body.dataset.userId;

  var channels = new Set();
  var handlers = {};
  var socket = null;
  var attempt = 0;
  var retryTimer = null;
  var watchdog = null;
  var stopped = false;
  // the server pings every WS_HEARTBEAT_SECONDS (25 s by default): hearing nothing for much
  // longer means the connection is dead even if the browser has not noticed
  var SILENCE_MS = 75000;

  function csrfToken() {
    var m = document.cookie.match(/(?:^|;\s*)aicrm_csrf=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function emit(type, message) {
    (handlers[type] || []).slice().forEach(function (fn) {
      try {
        fn(message);
      } catch (e) {
        setTimeout(function () { throw e; });
      }
    });
    document.dispatchEvent(new CustomEvent("aicrm:" + type, { detail: message }));
  }

  function send(obj) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(obj));
  }

  function armWatchdog() {
    clearTimeout(watchdog);
    watchdog = setTimeout(function () {
      if (socket) socket.close(4000, "no heartbeat");
    }, SILENCE_MS);
  }

  function scheduleReconnect() {
    if (stopped || retryTimer) return;
    // exponential backoff with jitter, so a restarted server is not hit by every tab at once
    var base = Math.min(30000, 500 * Math.pow(2, attempt));
    attempt += 1;
    var delay = base / 2 + Math.random() * base / 2;
    retryTimer = setTimeout(function () {
      retryTimer = null;
      connect();
    }, delay);
  }

  function renewSession() {
    // the access cookie expired: renew it from the refresh cookie, as app.js does for fetches
    return fetch("/session/refresh", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken() },
    }).then(function (r) { return r.ok; }, function () { return false; });
  }

  function connect() {
    if (stopped) return;
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    var ws;
    try {
      ws = new WebSocket(proto + "//" + location.host + "/ws");
    } catch (e) {
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.onopen = function () {
      armWatchdog();
      channels.forEach(function (channel) { send({ type: "subscribe", channel: channel }); });
      emit("connected", { type: "connected", reconnect: attempt > 0 });
    };
    ws.onmessage = function (evt) {
      armWatchdog();
      var message;
      try {
        message = JSON.parse(evt.data);
      } catch (e) {
        return;
      }
      if (!message || typeof message.type !== "string") return;
      if (message.type === "ping") {
        send({ type: "pong" });
        return;
      }
      if (message.type === "subscribed") attempt = 0;
      emit(message.type, message);
    };
    ws.onclose = function (evt) {
      clearTimeout(watchdog);
      if (socket === ws) socket = null;
      emit("disconnected", { type: "disconnected", code: evt.code, reason: evt.reason });
      if (evt.code === 4403) {
        stopped = true; // not allowed: retrying would not change that
        return;
      }
      if (evt.code === 4401) {
        renewSession().then(function (ok) {
          if (ok) scheduleReconnect();
          else stopped = true; // signed out: the next page load goes to the login form
        });
        return;
      }
      scheduleReconnect();
    };
  }

  var api = {
    subscribe: function (channel) {
      if (channels.has(channel)) return;
      channels.add(channel);
      send({ type: "subscribe", channel: channel });
    },
    unsubscribe: function (channel) {
      if (!channels.delete(channel)) return;
      send({ type: "unsubscribe", channel: channel });
    },
    on: function (type, fn) {
      (handlers[type] = handlers[type] || []).push(fn);
      return function off() {
        handlers[type] = (handlers[type] || []).filter(function (f) { return f !== fn; });
      };
    },
    get connected() {
      return !!socket && socket.readyState === WebSocket.OPEN;
    },
  };
  window.aicrmRealtime = api;

  // -- live boards (leads kanban, deal board) -------------------------------------------------

  var money;

  function formatMoney(value, currency) {
    try {
      money = money || new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "USD", maximumFractionDigits: 0 });
      return money.format(value);
    } catch (e) {
      return Math.round(value).toLocaleString();
    }
  }

  function adjust(col, dCount, dValue, board) {
    if (!col) return;
    var countEl = col.querySelector("[data-count]");
    var totalEl = col.querySelector("[data-total]");
    if (countEl && dCount) {
      var n = Math.max(0, parseInt(countEl.dataset.count || "0", 10) + dCount);
      countEl.dataset.count = n;
      countEl.textContent = n;
    }
    if (totalEl && dValue) {
      var t = Math.max(0, parseFloat(totalEl.dataset.total || "0") + dValue);
      totalEl.dataset.total = t;
      totalEl.textContent = formatMoney(t, board.dataset.currency);
    }
  }

  var BOARDS = { lead: "leads", deal: "deals" };
  var syncing = {};

  function boardFor(kind) {
    var group = BOARDS[kind];
    return group ? document.querySelector('[data-board][data-group="' + group + '"]') : null;
  }

  function findCard(board, id) {
    return board.querySelector('.kcard[data-id="' + id + '"]');
  }

  // A move of this browser is under way: its own request decides, then the card is checked.
  function busy(board, card) {
    if (card && card.classList.contains("saving")) return true;
    if (board.querySelector(".sortable-chosen, .sortable-drag")) return true;
    return !!document.querySelector("#reason-dialog[open]");
  }

  function cardsOf(list) {
    return Array.prototype.slice.call(list.querySelectorAll(":scope > .kcard"));
  }

  function place(board, state) {
    var card = findCard(board, state.id);
    var toCol = board.querySelector('[data-column="' + CSS.escape(String(state.column)) + '"]');
    var value = state.value || 0;
    if (!toCol) {
      // no longer on this board (another pipeline)
      if (card) {
        adjust(card.closest("[data-column]"), -1, -parseFloat(card.dataset.value || "0"), board);
        card.remove();
      }
      return false;
    }
    var list = toCol.querySelector("[data-cards]");
    var tpl = document.createElement("template");
    tpl.innerHTML = state.html.trim();
    var fresh = tpl.content.firstElementChild;
    if (!fresh) return false;
    // an AI score is not an edit (the version stays): data-ai tells a new score apart
    if (card && card.dataset.version === String(state.version) && card.parentNode === list &&
        card.dataset.ai === fresh.dataset.ai && cardsOf(list).indexOf(card) === state.card_order) {
      return false; // this board already shows it (e.g. the move was made here)
    }
    var hadFocus = card && card.contains(document.activeElement);
    if (card) {
      var fromCol = card.closest("[data-column]");
      var oldValue = parseFloat(card.dataset.value || "0");
      if (fromCol !== toCol) {
        adjust(fromCol, -1, -oldValue, board);
        adjust(toCol, 1, value, board);
      } else {
        adjust(toCol, 0, value - oldValue, board);
      }
      card.remove();
    } else {
      adjust(toCol, 1, value, board);
    }
    var ref = cardsOf(list)[state.card_order] || null;
    if (ref) list.insertBefore(fresh, ref);
    else list.appendChild(fresh);
    fresh.classList.add("flash");
    setTimeout(function () { fresh.classList.remove("flash"); }, 1300);
    if (hadFocus) fresh.focus();
    return true;
  }

  function removeCard(board, id) {
    var card = findCard(board, id);
    if (!card) return false;
    adjust(card.closest("[data-column]"), -1, -parseFloat(card.dataset.value || "0"), board);
    card.remove();
    return true;
  }

  async function fetchCard(kind, id, retried) {
    var res = await fetch("/realtime/cards/" + kind + "/" + id, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      redirect: "manual",
    });
    if (res.status === 401 && !retried && (await renewSession())) return fetchCard(kind, id, true);
    if (res.status === 404) return { gone: true };
    var type = res.headers.get("content-type") || "";
    if (!res.ok || type.indexOf("application/json") === -1) return null;
    return res.json();
  }

  // Bring one card in line with the server: several events for one card collapse into one
  // fetch, and the fetched state (not the event) decides where the card goes.
  async function syncCard(kind, id) {
    var key = kind + ":" + id;
    if (syncing[key]) {
      syncing[key].again = true;
      return;
    }
    syncing[key] = { again: false };
    try {
      do {
        syncing[key].again = false;
        var board = boardFor(kind);
        if (!board) return;
        while (busy(board, findCard(board, id))) {
          await new Promise(function (r) { setTimeout(r, 250); });
        }
        var state;
        try {
          state = await fetchCard(kind, id);
        } catch (e) {
          state = null; // offline for a moment: the next event or reload fixes the card
        }
        if (!state) continue;
        if (busy(board, findCard(board, id))) {
          syncing[key].again = true;
          continue;
        }
        var changed = state.gone ? removeCard(board, id) : place(board, state);
        if (changed) {
          document.dispatchEvent(new CustomEvent("aicrm:board-updated", { detail: { kind: kind, id: id } }));
        }
      } while (syncing[key].again);
    } finally {
      delete syncing[key];
    }
  }

  function onEntityEvent(message) {
    var kind = message.entity_type;
    if (!BOARDS[kind] || !message.entity_id) return;
    if (!boardFor(kind)) return;
    syncCard(kind, message.entity_id);
  }

  ["lead_updated", "lead_scored", "deal_updated"].forEach(function (type) {
    api.on(type, onEntityEvent);
  });

  // -- AI insight cards ------------------------------------------------------------------------
  // A container `<div data-insights-for="lead:5" hx-get="/insights/cards?…" hx-trigger="load,
  // insights-refresh">` reloads when an ai_insight (or insight_updated) message names its record.

  function onInsight(message) {
    if (!message.entity_type || !message.entity_id || !window.htmx) return;
    var key = message.entity_type + ":" + message.entity_id;
    document.querySelectorAll('[data-insights-for="' + key + '"]').forEach(function (el) {
      window.htmx.trigger(el, "insights-refresh");
    });
  }

  ["ai_insight", "insight_updated"].forEach(function (type) {
    api.on(type, onInsight);
  });

  // -- start ----------------------------------------------------------------------------------

  if (!orgId || !userId || typeof WebSocket === "undefined") return;
  channels.add("organization:" + orgId);
  channels.add("user:" + userId);
  connect();
  window.addEventListener("pagehide", function () {
    stopped = true;
    clearTimeout(retryTimer);
    if (socket) socket.close(1000, "page closed");
  });
  window.addEventListener("pageshow", function (evt) {
    // back/forward cache brought the page back: connect again
    if (evt.persisted && stopped) {
      stopped = false;
      attempt = 0;
      connect();
    }
  });
})();
