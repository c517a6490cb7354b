// The notification bell's live count and list. Three sources keep it right:
// - `aicrm:notification` on document, dispatched by realtime.js for every websocket message of
//   type "notification" (detail = the message, detail.data = {notification_id, title, body, link});
// - the `notificationsChanged` HX-Trigger our own pages send after marking read or deleting;
// - a poll of /api/v1/notifications/unread-count every minute while the tab is visible and no
//   websocket is open, and once after the websocket reconnects (messages may have been missed),
//   and when the tab becomes visible again (reads in another tab).
// Without this script the bell still works: the server renders the count with every bell load.
(function () {
  "use strict";

  var POLL_MS = 60000;
  var MAX_ITEMS = 8;
  var seen = Object.create(null);
  var stale = false;

  function csrfToken() {
    var m = document.cookie.match(/(?:^|;\s*)aicrm_csrf=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function countEl() { return document.querySelector("[data-notif-count]"); }

  function getCount() {
    var el = countEl();
    return el ? parseInt(el.dataset.notifCount || "0", 10) || 0 : 0;
  }

  function setCount(n) {
    n = Math.max(0, parseInt(n, 10) || 0);
    var el = countEl();
    if (!el) return;
    el.dataset.notifCount = String(n);
    el.textContent = n > 99 ? "99+" : String(n);
    el.hidden = n === 0;
    var summary = document.querySelector("[data-notif-summary]");
    if (summary) summary.setAttribute("aria-label", n ? "Notifications, " + n + " unread" : "Notifications");
    var readAll = document.querySelector("[data-notif-read-all]");
    if (readAll) readAll.disabled = n === 0;
    var text = document.querySelector("[data-notif-unread-text]");
    if (text) text.textContent = n + " unread";
  }

  // Only paths inside the app and http(s) URLs become links (the server applies the same rule).
  function safeHref(link) {
    if (typeof link !== "string" || !link) return "/notifications";
    if (link.charAt(0) === "/" && link.charAt(1) !== "/" && link.charAt(1) !== "\\") return link;
    if (/^https?:\/\//i.test(link)) return link;
    return "/notifications";
  }

  function span(cls, text) {
    var el = document.createElement("span");
    el.className = cls;
    el.textContent = text;
    return el;
  }

  function prepend(data) {
    var list = document.querySelector("[data-notif-items]");
    if (!list) return;
    var empty = list.querySelector("[data-notif-empty]");
    if (empty) empty.remove();
    var li = document.createElement("li");
    li.className = "notif-item unread";
    var a = document.createElement("a");
    a.href = safeHref(data.link);
    a.dataset.notifId = String(data.notification_id);
    a.setAttribute("data-notif-unread", "");
    a.appendChild(span("notif-title", data.title || "Notification"));
    if (data.body) a.appendChild(span("notif-body", String(data.body).slice(0, 140)));
    a.appendChild(span("notif-meta", "just now"));
    li.appendChild(a);
    list.insertBefore(li, list.firstChild);
    while (list.children.length > MAX_ITEMS) list.removeChild(list.lastElementChild);
  }

  function known(id) {
    return seen[id] || document.querySelector('[data-notif-items] [data-notif-id="' + id + '"]');
  }

  document.addEventListener("aicrm:notification", function (evt) {
    var msg = evt.detail || {};
    var data = msg.data || msg;
    var id = data.notification_id;
    if (id === undefined || id === null || known(id)) return;
    seen[id] = true;
    if (!countEl()) {
      // the bell has not loaded yet: its load may predate this notification
      stale = true;
      return;
    }
    setCount(getCount() + 1);
    prepend(data);
    var bell = document.querySelector("[data-notif-bell]");
    if (bell) {
      bell.classList.remove("notif-ring");
      void bell.offsetWidth;
      bell.classList.add("notif-ring");
    }
  });

  document.addEventListener("notificationsChanged", function (evt) {
    var d = evt.detail || {};
    if (typeof d.unread === "number") setCount(d.unread);
  });

  document.addEventListener("htmx:afterSwap", function (evt) {
    var target = evt.detail && evt.detail.target;
    if (stale && target && target.matches && target.matches("[data-notif-bell]")) {
      stale = false;
      poll(true);
    }
  });

  // Opening a notification marks it read (keepalive: the request outlives the navigation).
  function opened(evt) {
    if (evt.type === "auxclick" && evt.button !== 1) return;
    var a = evt.target.closest && evt.target.closest("a[data-notif-id][data-notif-unread]");
    if (!a) return;
    a.removeAttribute("data-notif-unread");
    var item = a.closest(".notif-item, .list-item");
    if (item) item.classList.remove("unread");
    setCount(getCount() - 1);
    fetch("/api/v1/notifications/" + encodeURIComponent(a.dataset.notifId) + "/read", {
      method: "POST",
      credentials: "same-origin",
      keepalive: true,
      headers: { Accept: "application/json", "X-CSRF-Token": csrfToken() },
    }).catch(function () { /* the count heals on the next poll */ });
  }
  document.addEventListener("click", opened);
  document.addEventListener("auxclick", opened);

  function poll(force) {
    if (!countEl() || (!force && document.visibilityState !== "visible")) return;
    fetch("/api/v1/notifications/unread-count", {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (!d || typeof d.count !== "number" || d.count === getCount()) return;
        var grew = d.count > getCount();
        setCount(d.count);
        var list = document.querySelector("[data-notif-items]");
        if (grew && list && window.htmx) {
          window.htmx.ajax("GET", "/notifications/bell?part=items", { target: list, swap: "innerHTML" });
        }
      })
      .catch(function () { /* offline: try again next time */ });
  }

  function live() {
    return !!(window.aicrmRealtime && window.aicrmRealtime.connected);
  }

  setInterval(function () { if (!live()) poll(false); }, POLL_MS);
  document.addEventListener("aicrm:connected", function (evt) {
    if (evt.detail && evt.detail.reconnect) poll(true);
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") poll(false);
  });
})();
