// The assistant panel: a chat with the CRM on every page (templates/assistant/_panel.html).
// - opened by the top-bar button or Ctrl+J / ⌘J, closed by Escape or the close button; focus
//   goes to the message box and back to where it was;
// - the conversation's session id lives in sessionStorage (one per browser tab), so it goes on
//   across page loads; so does the panel being open;
// - a reply streams from POST /api/v1/chat/stream (server-sent events read through fetch, since
//   EventSource cannot POST): `text` {delta}, `action` (a card), `question`, `done` {message},
//   `error` (problem+json);
// - actions taken are cards linking to the record, the latest with Undo (POST /api/v1/chat/undo);
//   a clarifying question's options and a confirmation's Yes / No are buttons that answer it.
// Records the assistant changes on the current page (a lead on the kanban) are redrawn by
// realtime.js from the websocket events their services publish, like anybody else's change.
(function () {
  "use strict";

  var panel = document.getElementById("assistant-panel");
  if (!panel || !window.fetch) return;

  var API = "/api/v1/chat";
  var body = document.body;
  var KEY = "aicrm.assistant:" + (body.dataset.orgId || "") + ":" + (body.dataset.userId || "");
  var MAC = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent || "");

  var log = panel.querySelector("[data-asst-log]");
  var scroller = panel.querySelector("[data-asst-scroll]");
  var empty = panel.querySelector("[data-asst-empty]");
  var form = panel.querySelector("[data-asst-form]");
  var input = panel.querySelector("#assistant-input");
  var submitBtn = panel.querySelector("[data-asst-submit]");
  var stopBtn = panel.querySelector("[data-asst-stop]");
  var status = panel.querySelector("[data-asst-status]");
  var toggles = document.querySelectorAll("[data-asst-toggle]");

  var loaded = false; // the history has been fetched for this page
  var loading = null;
  var streaming = null; // {controller} while a reply streams
  var returnFocus = null;
  var lastSent = "";

  // -- storage and CSRF -------------------------------------------------------------------------

  function store(name, value) {
    try {
      if (value === null) sessionStorage.removeItem(KEY + ":" + name);
      else sessionStorage.setItem(KEY + ":" + name, value);
    } catch (e) { /* storage off (private mode): the panel still works for this page */ }
  }

  function stored(name) {
    try {
      return sessionStorage.getItem(KEY + ":" + name);
    } catch (e) {
      return null;
    }
  }

  function newSessionId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  var memorySession = null;
  function sessionId() {
    var id = stored("session") || memorySession;
    if (!id) {
      id = newSessionId();
      store("session", id);
    }
    memorySession = id;
    return id;
  }

  function csrfToken() {
    var m = document.cookie.match(/(?:^|;\s*)aicrm_csrf=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function refreshSession() {
    return fetch("/session/refresh", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken() },
    }).then(function (r) { return r.ok; }, function () { return false; });
  }

  function problemText(problem, statusCode) {
    if (problem && problem.errors && problem.errors.length) {
      return problem.errors.map(function (e) { return (e.field ? e.field + ": " : "") + e.message; }).join("; ");
    }
    if (problem && (problem.detail || problem.title)) return problem.detail || problem.title;
    if (statusCode === 404) return "The assistant is not available on this server.";
    if (statusCode === 429) return "Too many messages at once; wait a moment and try again.";
    return "The assistant could not answer (" + (statusCode || "no connection") + "). Please try again.";
  }

  // fetch with the session cookies and the CSRF header; renews an expired access cookie once
  async function call(method, url, payload, extra) {
    var opts = {
      method: method,
      credentials: "same-origin",
      headers: { Accept: (extra && extra.accept) || "application/json", "X-CSRF-Token": csrfToken() },
      signal: extra && extra.signal,
    };
    if (payload !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(payload);
    }
    var res = await fetch(url, opts);
    if (res.status === 401 && (await refreshSession())) {
      opts.headers["X-CSRF-Token"] = csrfToken();
      res = await fetch(url, opts);
    }
    if (res.status === 401) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      throw new Error("Your session ended; please sign in again.");
    }
    return res;
  }

  async function json(method, url, payload) {
    var res = await call(method, url, payload);
    var text = await res.text();
    var data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (!res.ok) {
      var err = new Error(problemText(data, res.status));
      err.status = res.status;
      throw err;
    }
    return data;
  }

  // -- drawing --------------------------------------------------------------------------------

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function iconNode(name) {
    var tpl = panel.querySelector('template[data-asst-icon="' + name + '"]') ||
      panel.querySelector('template[data-asst-icon="updated"]');
    return tpl.content.firstElementChild.cloneNode(true);
  }

  // only paths inside the app become links (the server builds them, but a link is a link)
  function safeLink(link) {
    if (typeof link !== "string" || link.charAt(0) !== "/") return null;
    try {
      var url = new URL(link, location.origin); // as the browser reads it ("/\t/x" is "//x")
      return url.origin === location.origin ? url.pathname + url.search + url.hash : null;
    } catch (e) {
      return null;
    }
  }

  var OP_WORDS = {
    created: "Created", updated: "Updated", deleted: "Deleted", moved: "Moved",
    assigned: "Assigned", scheduled: "Scheduled", read: "Looked up",
  };

  function humanType(type) {
    return String(type || "record").replace(/_/g, " ");
  }

  // "Lead Jane Doe (Example Corp)" under "Created lead" reads better as "Jane Doe (Example Corp)"
  function cardLabel(a) {
    var label = String(a.label || "");
    var type = humanType(a.entity_type);
    if (label.toLowerCase().indexOf(type.toLowerCase() + " ") === 0 && label.length > type.length + 1) {
      label = label.slice(type.length + 1);
    }
    return label || type + (a.entity_id ? " #" + a.entity_id : "");
  }

  function nearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  }

  function scrollDown(force) {
    if (force || nearBottom()) scroller.scrollTop = scroller.scrollHeight;
  }

  function showEmpty() {
    empty.hidden = log.children.length > 0;
  }

  function announce(text) {
    status.textContent = "";
    // a change the screen reader notices even when the text repeats
    setTimeout(function () { status.textContent = text; }, 30);
  }

  function userMessage(text) {
    var li = el("li", "asst-msg asst-user");
    li.appendChild(el("div", "asst-bubble", text));
    log.appendChild(li);
    showEmpty();
    return li;
  }

  // one assistant message: the text, then its action cards, then its question
  function botMessage() {
    var li = el("li", "asst-msg asst-bot");
    var bubble = el("div", "asst-bubble");
    li.appendChild(bubble);
    log.appendChild(li);
    showEmpty();
    return { li: li, bubble: bubble, text: "", actions: [], cards: null, question: null };
  }

  function setText(m, text) {
    m.text = text || "";
    m.bubble.textContent = m.text;
    m.bubble.hidden = !m.text;
  }

  function actionKey(a) {
    if (a.id !== null && a.id !== undefined) return "id:" + a.id; // the stored action
    return (a.op || "") + ":" + (a.entity_type || "") + ":" + (a.entity_id === null || a.entity_id === undefined ? a.label : a.entity_id);
  }

  // a record page does not redraw itself (boards do, through realtime.js): offer the reload
  function reloadHint(main, href) {
    if (href !== location.pathname || document.querySelector("[data-board]")) return;
    if (main.querySelector(".asst-card-reload")) return;
    var reload = el("button", "asst-card-reload", "Reload this page to see the change");
    reload.type = "button";
    reload.addEventListener("click", function () { location.reload(); });
    main.appendChild(reload);
  }

  function addAction(m, a, live) {
    if (!a || typeof a !== "object") return;
    var key = actionKey(a);
    if (m.actions.some(function (b) { return actionKey(b) === key; })) return;
    m.actions.push(a);
    if (!m.cards) {
      m.cards = el("ul", "asst-cards");
      m.cards.setAttribute("aria-label", "Actions taken");
      m.li.insertBefore(m.cards, m.question ? m.question.box : null);
    }
    var op = OP_WORDS[a.op] ? a.op : "updated";
    var card = el("li", "asst-card asst-op-" + op);
    card.dataset.key = key;
    var ic = el("span", "asst-card-icon");
    ic.appendChild(iconNode(op));
    card.appendChild(ic);
    var main = el("div", "asst-card-main");
    main.appendChild(el("span", "asst-card-op", OP_WORDS[op] + " " + humanType(a.entity_type)));
    var href = a.op === "deleted" ? null : safeLink(a.link);
    var label = cardLabel(a);
    if (href) {
      var link = el("a", "asst-card-link", label);
      link.href = href;
      link.appendChild(iconNode("link"));
      main.appendChild(link);
      if (live) reloadHint(main, href);
    } else {
      main.appendChild(el("span", "asst-card-label", label));
    }
    card.appendChild(main);
    if (a.undone) markUndone(card);
    m.cards.appendChild(card);
    card._action = a;
    card._message = m;
    refreshUndo();
  }

  function markUndone(card) {
    card.classList.add("asst-undone");
    var old = card.querySelector(".asst-undo");
    if (old) old.remove();
    if (!card.querySelector(".asst-undone-badge")) card.appendChild(el("span", "asst-undone-badge", "Undone"));
  }

  // Undo takes back the conversation's last undoable action: only the newest live card offers it.
  function refreshUndo() {
    var cards = Array.prototype.slice.call(log.querySelectorAll(".asst-card"));
    var target = null;
    for (var i = cards.length - 1; i >= 0; i--) {
      var a = cards[i]._action;
      if (a && a.undoable !== false && a.op !== "read" && !cards[i].classList.contains("asst-undone")) {
        target = cards[i];
        break;
      }
    }
    cards.forEach(function (card) {
      var btn = card.querySelector(".asst-undo");
      if (card === target && !btn) {
        btn = el("button", "btn btn-sm asst-undo");
        btn.type = "button";
        btn.appendChild(iconNode("undo"));
        btn.appendChild(document.createTextNode(" Undo"));
        btn.setAttribute("aria-label", "Undo: " + card.querySelector(".asst-card-op").textContent.toLowerCase() + " " + cardLabel(card._action));
        btn.addEventListener("click", function () { undo(card, btn); });
        card.appendChild(btn);
      } else if (card !== target && btn) {
        btn.remove();
      }
    });
  }

  function setQuestion(m, q, active) {
    if (!q || (!q.question && !(q.options && q.options.length) && !q.awaiting)) return;
    if (m.question) m.question.box.remove();
    var box = el("div", "asst-question");
    var confirm = q.awaiting === "confirmation";
    var text = q.question || "";
    // the reply already asks it (usually in the same words): the question shows only alone
    if (text && !m.text.trim()) box.appendChild(el("p", "asst-question-text", text));
    var group = el("div", "asst-options");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", text || (confirm ? "Confirm" : "Choose one"));
    var choices = confirm
      ? [{ label: "Yes", reply: "yes", cls: "btn-danger" }, { label: "No", reply: "no", cls: "" }]
      : (q.options || []).map(function (o) {
        var label = typeof o === "string" ? o : o.label;
        return { label: label, reply: (o && o.reply) || label, cls: "" };
      });
    choices.forEach(function (c) {
      if (!c.label) return;
      var b = el("button", "btn btn-sm asst-option " + c.cls, c.label);
      b.type = "button";
      b.dataset.reply = c.reply;
      b.disabled = !active;
      b.addEventListener("click", function () {
        if (streaming) return;
        answered(m, b);
        send(c.reply, { label: c.label });
      });
      group.appendChild(b);
    });
    if (group.children.length) box.appendChild(group);
    if (!confirm && group.children.length) hideOptionList(m, choices);
    if (confirm) box.classList.add("asst-confirm");
    m.li.appendChild(box);
    m.question = { box: box, data: q };
    if (!active) box.classList.add("asst-answered");
    else scrollDown(true); // the choices are what the user acts on next: keep them in view
  }

  // the reply's text numbers the options for clients without buttons; here the buttons say it
  function hideOptionList(m, choices) {
    var labels = choices.map(function (c) { return c.label; });
    var shown = m.text.split("\n").filter(function (line) {
      var item = /^\s*\d+\.\s+(.*)$/.exec(line);
      return !(item && labels.indexOf(item[1].trim()) !== -1);
    }).join("\n").replace(/\n{3,}/g, "\n\n").trim();
    m.bubble.textContent = shown;
    m.bubble.hidden = !shown;
  }

  function answered(m, chosen) {
    if (!m.question) return;
    m.question.box.classList.add("asst-answered");
    m.question.box.querySelectorAll("button").forEach(function (b) {
      b.disabled = true;
      if (b === chosen) b.classList.add("asst-chosen");
    });
  }

  // any new message answers (or drops) the questions still open
  function closeQuestions() {
    log.querySelectorAll(".asst-question:not(.asst-answered)").forEach(function (box) {
      box.classList.add("asst-answered");
      box.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    });
  }

  function errorMessage(m, text, retry) {
    m.li.classList.add("asst-failed");
    var box = el("div", "asst-error");
    box.setAttribute("role", "alert");
    box.appendChild(iconNode("alert"));
    box.appendChild(el("span", null, text));
    if (retry) {
      var b = el("button", "btn btn-sm btn-ghost", "Try again");
      b.type = "button";
      b.addEventListener("click", function () {
        if (streaming) return;
        m.li.remove();
        send(retry, { again: true });
      });
      box.appendChild(b);
    }
    m.li.appendChild(box);
    scrollDown(true);
  }

  // a finished message from the server (history, `done`, undo): draw what the stream did not
  function finish(m, msg) {
    if (!msg) return;
    if (typeof msg.content === "string" && msg.content && msg.content.trim() !== m.text.trim()) setText(m, msg.content);
    listify(m, msg);
    (msg.actions || []).forEach(function (a) { addAction(m, a, true); });
    if (msg.awaiting || msg.question || (msg.options && msg.options.length)) {
      if (!m.question) setQuestion(m, msg, true);
    }
    if (msg.id !== undefined) m.li.dataset.id = msg.id;
  }

  // an answer that lists records ("Found 4 leads: A; B; C; D.") reads better as a list; only the
  // tools that word their results that way, and only when the whole reply has that one shape
  var LISTING_TOOLS = { analytics: true, search_records: true };
  function listify(m, msg) {
    var calls = (msg && msg.tool_calls) || [];
    if (calls.length !== 1 || !LISTING_TOOLS[calls[0].name] || m.text.indexOf("\n") !== -1) return;
    var text = m.text.trim();
    var colon = text.indexOf(": ");
    if (colon < 1) return;
    var items = text.slice(colon + 2).replace(/\.$/, "").split("; ");
    if (items.length < 3) return;
    m.bubble.textContent = "";
    m.bubble.appendChild(el("p", "asst-list-head", text.slice(0, colon + 1)));
    var ul = el("ul", "asst-list");
    items.forEach(function (item) { ul.appendChild(el("li", "", item)); });
    m.bubble.appendChild(ul);
    m.listed = true;
  }

  function summary(m) {
    // as shown (options are read below; a listed reply reads as its text)
    var parts = [m.bubble.hidden ? "" : m.listed ? m.text : m.bubble.textContent];
    if (m.actions.length) {
      parts.push(m.actions.map(function (a) {
        return (OP_WORDS[a.op] || "Changed") + " " + humanType(a.entity_type) + ": " + cardLabel(a) + (a.undone ? " (undone)" : "") + ".";
      }).join(" "));
    }
    if (m.question && m.question.data) {
      var q = m.question.data;
      if (q.question && m.text.indexOf(q.question) === -1) parts.push(q.question);
      if (q.awaiting === "confirmation") parts.push("Answer with Yes or No.");
      else if (q.options && q.options.length) parts.push("Options: " + q.options.map(function (o) { return o.label || o; }).join(", ") + ".");
    }
    return parts.filter(Boolean).join(" ");
  }

  // -- history --------------------------------------------------------------------------------

  function messagesOf(data) {
    if (Array.isArray(data)) return data;
    if (!data) return [];
    return data.messages || data.items || [];
  }

  function drawHistory(messages) {
    log.innerHTML = "";
    var last = null;
    messages.forEach(function (msg, i) {
      if (msg.role === "user") {
        var u = userMessage(msg.content || "");
        if (msg.status === "failed") u.appendChild(el("p", "asst-stopped", "This message was not answered."));
        return;
      }
      if (msg.role !== "assistant") return;
      var m = botMessage();
      setText(m, msg.content || "");
      listify(m, msg);
      (msg.actions || []).forEach(function (a) { addAction(m, a); });
      var open = i === messages.length - 1 && !!msg.awaiting;
      if (msg.awaiting || msg.question || (msg.options && msg.options.length)) setQuestion(m, msg, open);
      if (msg.id !== undefined) m.li.dataset.id = msg.id;
      last = m;
    });
    showEmpty();
    scrollDown(true);
    return last;
  }

  function loadHistory() {
    if (loading) return loading;
    log.setAttribute("aria-busy", "true");
    empty.hidden = true;
    var wait = el("li", "asst-loading", "Loading the conversation…");
    log.appendChild(wait);
    loading = json("GET", API + "/history?session_id=" + encodeURIComponent(sessionId()))
      .then(function (data) {
        wait.remove();
        if (data && data.session_id && data.session_id !== sessionId()) {
          memorySession = data.session_id;
          store("session", data.session_id);
        }
        drawHistory(messagesOf(data));
        loaded = true;
        if (!(data && data.busy)) polls = 0;
        if (data && data.busy && !streaming) waitForReply();
      }, function (err) {
        wait.remove();
        showEmpty();
        var m = botMessage();
        errorMessage(m, err.message);
        loaded = false;
      })
      .finally(function () {
        loading = null;
        log.removeAttribute("aria-busy");
      });
    return loading;
  }

  // The page was reloaded while a reply was being worked on: show that, and look again soon.
  var polls = 0;
  function waitForReply() {
    if (polls >= 40) return;
    polls += 1;
    var m = botMessage();
    m.li.classList.add("asst-pending");
    var dots = el("span", "asst-typing");
    dots.innerHTML = "<i></i><i></i><i></i>";
    m.bubble.appendChild(dots);
    setTimeout(function () {
      if (streaming || loading) return;
      loadHistory();
    }, 1500);
  }

  // -- streaming ------------------------------------------------------------------------------

  // Parse server-sent events from a fetch body; calls onEvent(name, data) for each event.
  async function readEvents(res, onEvent) {
    var reader = res.body.getReader();
    var decoder = new TextDecoder();
    var buf = "";
    function flush(block) {
      var name = "message";
      var data = [];
      block.split("\n").forEach(function (line) {
        if (!line || line.charAt(0) === ":") return;
        var i = line.indexOf(":");
        var field = i === -1 ? line : line.slice(0, i);
        var value = i === -1 ? "" : line.slice(i + 1).replace(/^ /, "");
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
      });
      if (!data.length) return;
      var raw = data.join("\n");
      var parsed;
      try { parsed = JSON.parse(raw); } catch (e) { parsed = raw; }
      onEvent(name, parsed);
    }
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buf += decoder.decode(chunk.value, { stream: true });
      // CRLF and CR end lines too; a CR at the very end may be half of a CRLF still to come
      var tail = buf.slice(-1) === "\r" ? "\r" : "";
      buf = buf.slice(0, buf.length - tail.length).replace(/\r\n?/g, "\n") + tail;
      var at;
      while ((at = buf.indexOf("\n\n")) !== -1) {
        flush(buf.slice(0, at));
        buf = buf.slice(at + 2);
      }
    }
    buf += decoder.decode();
    if (buf.replace(/\r\n?/g, "\n").trim()) flush(buf.replace(/\r\n?/g, "\n"));
  }

  function busy(on) {
    submitBtn.hidden = on;
    stopBtn.hidden = !on;
    panel.classList.toggle("asst-busy", on);
    log.setAttribute("aria-busy", on ? "true" : "false");
  }

  async function send(text, opts) {
    text = String(text || "").trim();
    if (!text || streaming) return;
    opts = opts || {};
    if (!loaded) await loadHistory();
    log.querySelectorAll(".asst-pending").forEach(function (li) { li.remove(); });
    closeQuestions();
    lastSent = text;
    userMessage(opts.label && opts.label !== text ? opts.label : text);
    var m = botMessage();
    m.li.classList.add("asst-pending");
    m.bubble.hidden = false;
    var dots = el("span", "asst-typing");
    dots.innerHTML = "<i></i><i></i><i></i>";
    m.bubble.appendChild(dots);
    m.bubble.setAttribute("aria-label", "The assistant is answering");
    scrollDown(true);
    announce("Sent. The assistant is answering…");
    var controller = new AbortController();
    streaming = { controller: controller };
    busy(true);
    var ended = false;
    var failed = false;
    try {
      var res = await call("POST", API + "/stream", { message: text, session_id: sessionId() }, {
        accept: "text/event-stream",
        signal: controller.signal,
      });
      if (!res.ok || !res.body) {
        var problem = null;
        try { problem = await res.json(); } catch (e) { problem = null; }
        throw Object.assign(new Error(problemText(problem, res.status)), { shown: false });
      }
      await readEvents(res, function (name, data) {
        var stick = nearBottom(); // follow the reply if the reader was at the bottom before it grew
        m.li.classList.remove("asst-pending");
        m.bubble.removeAttribute("aria-label");
        data = data || {};
        if (data.session_id && data.session_id !== sessionId()) {
          memorySession = data.session_id;
          store("session", data.session_id);
        }
        if (name === "text") {
          setText(m, m.text + (typeof data === "string" ? data : data.delta || ""));
        } else if (name === "action") {
          addAction(m, data.action || data, true);
        } else if (name === "question") {
          setQuestion(m, data, true);
        } else if (name === "done") {
          ended = true;
          finish(m, data.message || data);
        } else if (name === "error") {
          ended = true;
          failed = true;
          if (!m.text) m.bubble.hidden = true;
          errorMessage(m, problemText(data, data.status), text);
        }
        scrollDown(stick);
      });
      if (!ended) throw new Error("The reply was cut off before it finished. Please try again.");
      if (!failed) {
        if (!m.text && !m.actions.length && !m.question) setText(m, "(no reply)");
        announce(summary(m));
      }
    } catch (err) {
      m.li.classList.remove("asst-pending");
      m.bubble.removeAttribute("aria-label");
      if (err.name === "AbortError") {
        if (!m.text) m.bubble.hidden = true;
        // the server finishes a turn it has started (a change is never left half-made)
        m.li.appendChild(el("p", "asst-stopped", "Stopped following the reply; what the assistant finishes shows when you reopen the conversation."));
        announce("Stopped.");
      } else {
        if (!m.text) m.bubble.hidden = true;
        errorMessage(m, err.message || "The assistant could not answer.", text);
        announce(err.message || "The assistant could not answer.");
      }
    } finally {
      var typing = m.bubble.querySelector(".asst-typing");
      if (typing) typing.remove();
      if (!m.text) m.bubble.hidden = true;
      streaming = null;
      busy(false);
      scrollDown();
      if (panel.contains(document.activeElement) || document.activeElement === body) input.focus();
    }
  }

  async function undo(card, btn) {
    if (streaming) return;
    btn.disabled = true;
    try {
      var data = await json("POST", API + "/undo", { session_id: sessionId() });
      var undone = (data && (data.undone || data.actions)) || [];
      var keys = undone.map(actionKey);
      var marked = false;
      log.querySelectorAll(".asst-card").forEach(function (c) {
        if (keys.indexOf(c.dataset.key) !== -1) {
          markUndone(c);
          marked = true;
        }
      });
      if (!marked) {
        // the server did not say which: it undid the newest undoable turn, this card's
        (card._message.cards ? card._message.cards.querySelectorAll(".asst-card") : [card]).forEach(markUndone);
      }
      var main = card.querySelector(".asst-card-main");
      var link = main.querySelector("a");
      if (link) reloadHint(main, link.getAttribute("href"));
      var msg = data && data.message;
      if (msg && (msg.content || (msg.actions && msg.actions.length))) {
        var m = botMessage();
        finish(m, msg);
        announce(summary(m));
      } else {
        announce("Undone: " + (card._action.label || ""));
      }
      refreshUndo();
      scrollDown(true);
    } catch (err) {
      btn.disabled = false;
      var m2 = botMessage();
      errorMessage(m2, err.message);
      announce(err.message);
    }
  }

  async function newConversation() {
    if (streaming) {  // its reply is still being written into this conversation
      if (window.aicrm && window.aicrm.toast) window.aicrm.toast("The assistant is still answering; start a new conversation when it has finished.", "error");
      return;
    }
    try {
      await json("POST", API + "/clear", { session_id: sessionId() });
    } catch (err) {
      if (window.aicrm && window.aicrm.toast) window.aicrm.toast(err.message, "error");
      return;
    }
    log.innerHTML = "";
    loaded = true;
    showEmpty();
    input.value = "";
    autosize();
    announce("New conversation.");
    input.focus();
  }

  // -- opening and closing --------------------------------------------------------------------

  function isOpen() {
    return !panel.hidden;
  }

  function open(focus) {
    if (!isOpen()) {
      var active = document.activeElement;
      returnFocus = active && active !== body && !panel.contains(active) ? active : null;
      // restored on page load: no slide-in, the panel was already there
      panel.classList.toggle("asst-still", focus === false);
      panel.hidden = false;
      body.classList.add("asst-open");
      toggles.forEach(function (t) { t.setAttribute("aria-expanded", "true"); });
      store("open", "1");
      if (!loaded) loadHistory();
    }
    if (focus !== false) input.focus();
  }

  function close() {
    if (!isOpen()) return;
    var hadFocus = panel.contains(document.activeElement);
    panel.hidden = true;
    body.classList.remove("asst-open");
    toggles.forEach(function (t) { t.setAttribute("aria-expanded", "false"); });
    store("open", null);
    if (hadFocus) {
      var back = returnFocus && document.contains(returnFocus) ? returnFocus : toggles[0];
      if (back) back.focus();
    }
    returnFocus = null;
  }

  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, 160) + "px";
  }

  toggles.forEach(function (t) {
    t.addEventListener("click", function () {
      if (isOpen()) close();
      else open();
    });
    var kbd = t.querySelector("[data-asst-kbd]");
    if (kbd && MAC) kbd.textContent = "⌘J";
    if (MAC) t.title = "Assistant (⌘J)";
  });

  panel.querySelector("[data-asst-close]").addEventListener("click", close);
  panel.querySelector("[data-asst-new]").addEventListener("click", newConversation);
  stopBtn.addEventListener("click", function () {
    if (streaming) streaming.controller.abort();
  });

  form.addEventListener("submit", function (evt) {
    evt.preventDefault();
    var text = input.value;
    if (!text.trim() || streaming) return;
    input.value = "";
    autosize();
    send(text);
  });

  input.addEventListener("input", autosize);
  input.addEventListener("keydown", function (evt) {
    if (evt.key === "Enter" && !evt.shiftKey && !evt.isComposing) {
      evt.preventDefault();
      evt.stopPropagation(); // not app.js's Ctrl+Enter: this form is ours
      form.requestSubmit();
    } else if (evt.key === "ArrowUp" && !input.value && lastSent) {
      evt.preventDefault();
      input.value = lastSent;
      autosize();
    }
  });

  empty.addEventListener("click", function (evt) {
    var chip = evt.target.closest("[data-asst-send], [data-asst-fill]");
    if (!chip) return;
    if (chip.hasAttribute("data-asst-fill")) {
      input.value = chip.dataset.asstFill;
      autosize();
      input.focus();
      input.setSelectionRange(input.value.length, input.value.length);
    } else {
      send(chip.textContent);
    }
  });

  document.addEventListener("keydown", function (evt) {
    var j = evt.key === "j" || evt.key === "J" || evt.code === "KeyJ";
    if (j && (evt.ctrlKey || evt.metaKey) && !evt.altKey && !evt.shiftKey) {
      evt.preventDefault();
      if (isOpen() && panel.contains(document.activeElement)) close();
      else open();
      return;
    }
    if (evt.key === "Escape" && isOpen() && !document.querySelector("dialog[open]")) {
      var inside = panel.contains(document.activeElement);
      if (inside || document.activeElement === body || !document.activeElement) {
        evt.preventDefault();
        close();
      }
    }
  });

  // the panel stays open from page to page within the tab
  if (stored("open") === "1") open(false);
})();
