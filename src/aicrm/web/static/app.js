// aicrm web UI behaviour: CSRF on every write, toasts, dialogs, keyboard shortcuts and the
// drag-and-drop boards. Plain JS, no build step; HTMX and SortableJS come from node_modules.
(function () {
  "use strict";

  // -- CSRF and API calls ---------------------------------------------------------------------

  function csrfToken() {
    // The cookie is authoritative: a sign-in in another tab rotates it after this page loaded.
    var m = document.cookie.match(/(?:^|;\s*)aicrm_csrf=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  document.addEventListener("htmx:configRequest", function (evt) {
    evt.detail.headers["X-CSRF-Token"] = csrfToken();
    // datetime-local inputs carry no zone: send the browser's offset along
    if (evt.detail.elt.matches && evt.detail.elt.matches("[data-tz-form]")) {
      evt.detail.parameters.tz_offset = String(new Date().getTimezoneOffset());
    }
  });

  var refreshing = null;

  function refreshSession() {
    if (!refreshing) {
      refreshing = fetch("/session/refresh", {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrfToken() },
      }).finally(function () {
        setTimeout(function () { refreshing = null; }, 1000);
      });
    }
    return refreshing;
  }

  function toLogin() {
    location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
  }

  // JSON API call with the session cookies; renews an expired access cookie once and retries.
  async function api(method, url, body, retried) {
    var res = await fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRF-Token": csrfToken(),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401 && !retried) {
      var r = await refreshSession();
      if (r.ok) return api(method, url, body, true);
      toLogin();
      throw new Error("Your session ended; please sign in again.");
    }
    var data = null;
    var text = await res.text();
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (!res.ok) {
      var err = new Error(problemMessage(data, res.status));
      err.status = res.status;
      err.problem = data;
      throw err;
    }
    return data;
  }

  function problemMessage(problem, status) {
    if (problem && problem.errors && problem.errors.length) {
      return problem.errors.map(function (e) { return (e.field ? e.field + ": " : "") + e.message; }).join("; ");
    }
    if (problem && problem.detail) return problem.detail;
    return "The server answered " + status + "; please try again.";
  }

  // -- toasts --------------------------------------------------------------------------------

  var ICONS = {
    success: '<path d="m5 12.5 4.5 4.5L19 7.5"/>',
    error: '<path d="M12 4 2.8 19.5h18.4z"/><path d="M12 10v4.5M12 17.2v.1"/>',
    info: '<circle cx="12" cy="12" r="8.5"/><path d="M12 11v5M12 8v.1"/>',
  };

  function toast(message, kind) {
    kind = ICONS[kind] ? kind : "info";
    var box = document.getElementById("toasts");
    if (!box || !message) return;
    var el = document.createElement("div");
    el.className = "toast toast-" + kind;
    el.setAttribute("role", kind === "error" ? "alert" : "status");
    el.innerHTML = '<svg class="icon" width="16" height="16" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">' + ICONS[kind] + "</svg>";
    var span = document.createElement("span");
    span.textContent = message;
    el.appendChild(span);
    box.appendChild(el);
    var ttl = kind === "error" ? 6500 : 3500;
    setTimeout(function () {
      el.classList.add("leaving");
      setTimeout(function () { el.remove(); }, 250);
    }, ttl);
  }

  window.aicrm = { toast: toast, api: api };

  document.addEventListener("toast", function (evt) {
    var d = evt.detail || {};
    toast(d.message || d.value, d.kind);
  });

  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    var trig = xhr.getResponseHeader("HX-Trigger") || "";
    if (trig.indexOf("toast") !== -1 || xhr.getResponseHeader("HX-Redirect")) return;
    toast("Something went wrong (" + xhr.status + "). Please try again.", "error");
  });

  document.addEventListener("htmx:sendError", function () {
    toast("Can't reach the server. Check your connection and try again.", "error");
  });

  // -- dialogs -------------------------------------------------------------------------------

  function openDialog(id) {
    var dlg = document.getElementById(id);
    if (!dlg) return;
    if (!dlg.open) dlg.showModal();
    var first = dlg.querySelector("[autofocus], input:not([type=hidden]), select, textarea");
    if (first) first.focus();
  }

  function closeDialogs() {
    document.querySelectorAll("dialog[open]").forEach(function (d) { d.close(); });
  }

  document.addEventListener("closeDialog", closeDialogs);

  document.addEventListener("click", function (evt) {
    var opener = evt.target.closest("[data-open-dialog]");
    if (opener) {
      evt.preventDefault();
      var dlg = document.getElementById(opener.dataset.openDialog);
      // a column's "+" pre-selects that column in the new-card form
      if (dlg && opener.dataset.presetName) {
        var field = dlg.querySelector('[name="' + opener.dataset.presetName + '"]');
        if (field) field.value = opener.dataset.presetValue;
      }
      openDialog(opener.dataset.openDialog);
      return;
    }
    if (evt.target.closest("[data-close-dialog]")) {
      var d = evt.target.closest("dialog");
      if (d) d.close();
      return;
    }
    // a click on the backdrop lands on the dialog element itself
    if (evt.target.tagName === "DIALOG") {
      var rect = evt.target.getBoundingClientRect();
      var inside = evt.clientX >= rect.left && evt.clientX <= rect.right && evt.clientY >= rect.top && evt.clientY <= rect.bottom;
      if (!inside) evt.target.close();
    }
    if (evt.target.closest("[data-history-back]")) {
      history.length > 1 ? history.back() : (location.href = "/");
    }
    // close open menus when clicking elsewhere
    document.querySelectorAll("details.menu[open]").forEach(function (m) {
      if (!m.contains(evt.target)) m.removeAttribute("open");
    });
    var copy = evt.target.closest("[data-copy]");
    if (copy) {
      navigator.clipboard.writeText(copy.dataset.copy).then(function () { toast("Copied to the clipboard", "success"); });
    }
  });

  document.addEventListener("focusin", function (evt) {
    if (evt.target.matches && evt.target.matches("[data-select-on-focus]")) evt.target.select();
  });

  document.addEventListener("change", function (evt) {
    var el = evt.target;
    if (el.matches("[data-autosubmit]") && el.form) {
      el.form.requestSubmit();
    }
  });

  // -- keyboard ------------------------------------------------------------------------------

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  document.addEventListener("keydown", function (evt) {
    // Ctrl/Cmd+Enter submits the form of a textarea (Enter alone makes a new line)
    if (evt.key === "Enter" && (evt.ctrlKey || evt.metaKey) && evt.target.tagName === "TEXTAREA" && evt.target.form) {
      evt.preventDefault();
      evt.target.form.requestSubmit();
      return;
    }
    var search = document.getElementById("global-search");
    if (evt.key === "/" && !typing(document.activeElement) && !evt.metaKey && !evt.ctrlKey && search) {
      evt.preventDefault();
      search.focus();
      search.select();
      return;
    }
    if (evt.key === "Escape") {
      var menus = document.querySelectorAll("details.menu[open]");
      if (menus.length) {
        menus.forEach(function (m) { m.removeAttribute("open"); m.querySelector("summary").focus(); });
        return;
      }
      if (document.activeElement === search) {
        search.value = "";
        document.getElementById("search-results").innerHTML = "";
        search.blur();
      }
    }
    // arrow keys walk the quick-search results
    var results = document.getElementById("search-results");
    if (results && (evt.key === "ArrowDown" || evt.key === "ArrowUp")) {
      var items = Array.prototype.slice.call(results.querySelectorAll(".sr-item"));
      var i = items.indexOf(document.activeElement);
      if (document.activeElement === search && evt.key === "ArrowDown" && items.length) {
        evt.preventDefault();
        items[0].focus();
      } else if (i !== -1) {
        evt.preventDefault();
        if (evt.key === "ArrowDown" && i < items.length - 1) items[i + 1].focus();
        else if (evt.key === "ArrowUp") (i === 0 ? search : items[i - 1]).focus();
      }
    }
  });

  // -- boards (leads kanban, deals pipeline) -------------------------------------------------

  var money;

  function formatMoney(value, currency) {
    try {
      money = money || new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "USD", maximumFractionDigits: 0 });
      return money.format(value);
    } catch (e) {
      return Math.round(value).toLocaleString();
    }
  }

  function column(el) { return el.closest("[data-column]"); }

  function cardIndex(card) {
    var cards = Array.prototype.slice.call(card.parentNode.querySelectorAll(":scope > .kcard"));
    return cards.indexOf(card);
  }

  function adjust(col, dCount, dValue, board) {
    if (!col) return;
    var countEl = col.querySelector("[data-count]");
    var totalEl = col.querySelector("[data-total]");
    if (countEl) {
      var n = Math.max(0, parseInt(countEl.dataset.count || "0", 10) + dCount);
      countEl.dataset.count = n;
      countEl.textContent = n;
    }
    if (totalEl) {
      var t = Math.max(0, parseFloat(totalEl.dataset.total || "0") + dValue);
      totalEl.dataset.total = t;
      totalEl.textContent = formatMoney(t, board.dataset.currency);
    }
  }

  function putBack(card, fromList, oldIndex) {
    card.remove();
    var ref = fromList.querySelectorAll(":scope > .kcard")[oldIndex] || null;
    fromList.insertBefore(card, ref);
  }

  // Won and lost stages ask why; a lost deal must say. Resolves null when the user cancels.
  function askReason(col) {
    var won = col.dataset.won === "true";
    var dlg = document.getElementById("reason-dialog");
    if (!dlg) {
      return Promise.resolve(window.prompt(won ? "Why was it won? (optional)" : "Why was it lost?", ""));
    }
    var form = dlg.querySelector("[data-reason-form]");
    var input = form.querySelector("textarea");
    var error = form.querySelector("[data-reason-error]");
    dlg.querySelector("h2").textContent = won ? "Won " + col.dataset.label + " — what made it work?" : "Why was this deal lost?";
    form.querySelector("[data-reason-label]").textContent = won ? "Reason (optional)" : "Reason (required)";
    input.value = "";
    error.hidden = true;
    return new Promise(function (resolve) {
      var settled = false;
      function finish(value) {
        if (settled) return;
        settled = true;
        form.removeEventListener("submit", onSubmit);
        cancel.removeEventListener("click", onCancel);
        dlg.removeEventListener("close", onClose);
        if (dlg.open) dlg.close();
        resolve(value);
      }
      function onSubmit(evt) {
        evt.preventDefault();
        var value = input.value.trim();
        if (!won && !value) {
          error.hidden = false;
          input.setAttribute("aria-invalid", "true");
          input.focus();
          return;
        }
        input.removeAttribute("aria-invalid");
        finish(value);
      }
      function onCancel() { finish(null); }
      function onClose() { finish(null); }
      var cancel = form.querySelector("[data-reason-cancel]");
      form.addEventListener("submit", onSubmit);
      cancel.addEventListener("click", onCancel);
      dlg.addEventListener("close", onClose);
      dlg.showModal();
      input.focus();
    });
  }

  async function persistMove(board, card, fromList, oldIndex) {
    var toList = card.parentNode;
    var fromCol = column(fromList);
    var toCol = column(toList);
    var newIndex = cardIndex(card);
    if (fromList === toList && oldIndex === newIndex) return;
    var value = parseFloat(card.dataset.value || "0");
    var moved = fromCol !== toCol;
    var body = {};
    body[board.dataset.field] = toCol.dataset.column;
    body.card_order = newIndex;
    if (card.dataset.version) body.version = parseInt(card.dataset.version, 10);
    if (moved && (toCol.dataset.won === "true" || toCol.dataset.lost === "true") && board.dataset.reasonField) {
      var reason = await askReason(toCol);
      if (reason === null) {
        putBack(card, fromList, oldIndex);
        return;
      }
      if (reason) body[board.dataset.reasonField] = reason;
    }
    if (moved) {
      adjust(fromCol, -1, -value, board);
      adjust(toCol, 1, value, board);
    }
    card.classList.add("saving");
    try {
      var out = await api("PUT", board.dataset.moveUrl.replace("{id}", card.dataset.id), body);
      if (out && out.version !== undefined) card.dataset.version = out.version;
      card.classList.remove("saving");
      if (moved) toast("Moved to " + toCol.dataset.label, "success");
    } catch (err) {
      card.classList.remove("saving");
      if (moved) {
        adjust(toCol, -1, -value, board);
        adjust(fromCol, 1, value, board);
      }
      putBack(card, fromList, oldIndex);
      toast(err.message, "error");
      if (err.status === 412) toast("Someone changed this card; reload to see the latest board.", "info");
    }
  }

  function initBoard(board) {
    if (board.dataset.ready || typeof Sortable === "undefined") return;
    board.dataset.ready = "1";
    // read-only roles see the board but cannot move cards
    var readonly = board.hasAttribute("data-readonly");
    if (!readonly) board.querySelectorAll("[data-cards]").forEach(function (list) {
      Sortable.create(list, {
        group: board.dataset.group || "board",
        animation: 150,
        draggable: ".kcard",
        filter: ".column-empty",
        ghostClass: "sortable-ghost",
        dragClass: "sortable-drag",
        forceFallback: true,
        fallbackTolerance: 4,
        onEnd: function (evt) {
          persistMove(board, evt.item, evt.from, evt.oldDraggableIndex);
        },
      });
    });
    // Keyboard: Shift+arrows move the focused card between and within columns.
    board.addEventListener("keydown", function (evt) {
      var card = evt.target.closest(".kcard");
      if (!card) return;
      if (evt.key === "Enter" && evt.target === card) {
        var link = card.querySelector("a");
        if (link) location.href = link.href;
        return;
      }
      if (!evt.shiftKey || readonly) return;
      var keys = ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"];
      if (keys.indexOf(evt.key) === -1) return;
      evt.preventDefault();
      var fromList = card.parentNode;
      var oldIndex = cardIndex(card);
      var cols = Array.prototype.slice.call(board.querySelectorAll("[data-column]"));
      var ci = cols.indexOf(column(card));
      if (evt.key === "ArrowLeft" || evt.key === "ArrowRight") {
        var target = cols[ci + (evt.key === "ArrowLeft" ? -1 : 1)];
        if (!target) return;
        var list = target.querySelector("[data-cards]");
        list.insertBefore(card, list.querySelector(".column-empty"));
      } else {
        var sib = evt.key === "ArrowUp" ? card.previousElementSibling : card.nextElementSibling;
        if (!sib || !sib.classList.contains("kcard")) return;
        fromList.insertBefore(card, evt.key === "ArrowUp" ? sib : sib.nextElementSibling);
      }
      card.focus();
      persistMove(board, card, fromList, oldIndex);
    });
  }

  function initAll(root) {
    (root || document).querySelectorAll("[data-board]").forEach(initBoard);
  }

  document.addEventListener("DOMContentLoaded", function () {
    initAll(document);
    var box = document.getElementById("toasts");
    if (box && box.dataset.flash) {
      try {
        var f = JSON.parse(box.dataset.flash);
        toast(f.message, f.kind);
      } catch (e) { /* a malformed flash is not worth an error */ }
    }
  });

  document.addEventListener("htmx:afterSwap", function (evt) {
    initAll(evt.detail.elt);
    // a form that came back with errors: put the cursor on the first field to fix
    if (evt.detail.xhr && evt.detail.xhr.status === 422) {
      var scope = document.querySelector("dialog[open]") || document;
      var invalid = scope.querySelector('[aria-invalid="true"]');
      if (invalid) invalid.focus();
    }
    var card = evt.detail.elt.querySelector && evt.detail.elt.querySelector(".kcard.flash");
    if (card) card.scrollIntoView({ block: "nearest" });
  });

  document.addEventListener("htmx:oobAfterSwap", function (evt) {
    var card = evt.detail.target && evt.detail.target.querySelector(".kcard.flash");
    if (card) card.scrollIntoView({ block: "nearest", behavior: "smooth" });
  });
})();
