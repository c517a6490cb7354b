// Automation rule editor: keeps the rule as JSON (trigger, a tree of AND/OR condition groups,
// an ordered action list), renders it as plain form rows, and saves it through the JSON API so
// the API's errors (`conditions.all[1].op`, `actions[0].team_id`) land next to their field.
// The dry-run panel posts the rule as it is on screen and shows the server-rendered trace.
(function () {
  "use strict";

  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    if (tag === "input" && !(attrs && attrs.type)) el.type = "text";
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") el.textContent = v;
      else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), v);
      else if (k === "value") el.value = v;
      else if (k === "checked") el.checked = !!v;
      else el.setAttribute(k, v === true ? "" : v);
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return el;
  }

  var uid = 0;
  function nextId() { uid += 1; return "au-f" + uid; }

  function field(label, control, opts) {
    opts = opts || {};
    if (!control.id) control.id = nextId();
    return h("div", { class: "field" + (opts.span ? " span-2" : "") }, [
      h("label", { for: control.id, text: label }),
      control,
      opts.hint ? h("p", { class: "hint", text: opts.hint }) : null,
    ]);
  }

  function select(options, value, attrs) {
    var el = h("select", attrs || {});
    options.forEach(function (o) {
      var opt = h("option", { value: String(o[0]), text: o[1] });
      if (String(o[0]) === String(value === undefined || value === null ? "" : value)) opt.selected = true;
      el.appendChild(opt);
    });
    return el;
  }

  function parseValue(text) {
    var t = String(text).trim();
    if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
    if (t === "true") return true;
    if (t === "false") return false;
    return t;
  }

  function showValue(v) {
    if (v === null || v === undefined) return "";
    if (Array.isArray(v)) return v.join(", ");
    return String(v);
  }

  function Editor(root) {
    this.root = root;
    this.config = JSON.parse(document.getElementById("au-config").textContent);
    this.rule = JSON.parse(document.getElementById("au-rule").textContent);
    this.ruleId = root.dataset.ruleId ? Number(root.dataset.ruleId) : null;
    if (!this.rule.conditions || (!this.rule.conditions.all && !this.rule.conditions.any && !this.rule.conditions.not)) {
      var c = this.rule.conditions;
      this.rule.conditions = { all: c && Object.keys(c).length ? [c] : [] };
    }
    this.advanced = !this.simpleTree(this.rule.conditions, 0);
    this.bindBasics();
    this.render();
    var self = this;
    document.getElementById("au-save").addEventListener("click", function () { self.save(); });
  }

  Editor.prototype.entity = function () {
    var t = this.rule.trigger || {};
    if (t.type === "schedule") return t.entity_type || "lead";
    if (t.event && this.config.event_entities[t.event]) return this.config.event_entities[t.event];
    var prefix = String(t.event || "").split(".")[0];
    return this.config.entities[prefix] ? prefix : null;
  };

  Editor.prototype.bindBasics = function () {
    var rule = this.rule;
    var name = document.getElementById("au-name");
    var desc = document.getElementById("au-description");
    var enabled = document.getElementById("au-enabled");
    name.value = rule.name || "";
    desc.value = rule.description || "";
    enabled.value = rule.enabled === false ? "false" : "true";
    name.addEventListener("input", function () { rule.name = name.value; });
    desc.addEventListener("input", function () { rule.description = desc.value; });
    enabled.addEventListener("change", function () { rule.enabled = enabled.value === "true"; });
  };

  Editor.prototype.render = function () {
    this.renderTrigger();
    this.renderConditions();
    this.renderActions();
  };

  // -- trigger ---------------------------------------------------------------------------------

  Editor.prototype.renderTrigger = function () {
    var self = this;
    var t = this.rule.trigger = this.rule.trigger || { type: "event", event: "lead.status_changed" };
    var box = document.getElementById("au-trigger");
    box.textContent = "";
    var type = select([["event", "Something happens"], ["schedule", "On a schedule"]], t.type, { "data-path": "trigger.type" });
    type.addEventListener("change", function () {
      self.rule.trigger = type.value === "schedule"
        ? { type: "schedule", cron: "0 9 * * 1-5", timezone: "UTC", entity_type: self.entity() || "lead", filter: {} }
        : { type: "event", event: "lead.status_changed" };
      self.render();
    });
    var grid = h("div", { class: "form-grid" }, [field("Trigger", type)]);
    if (t.type === "schedule") {
      var entity = select(this.config.entity_types.map(function (e) { return [e, e.charAt(0).toUpperCase() + e.slice(1) + "s"]; }), t.entity_type, { "data-path": "trigger.entity_type" });
      entity.addEventListener("change", function () { t.entity_type = entity.value; self.renderConditions(); self.renderActions(); });
      var cron = h("input", { value: t.cron || "", "data-path": "trigger.cron", placeholder: "0 9 * * 1-5", class: "mono" });
      cron.addEventListener("input", function () { t.cron = cron.value; });
      var tz = h("input", { value: t.timezone || "UTC", "data-path": "trigger.timezone", placeholder: "Europe/Paris" });
      tz.addEventListener("input", function () { t.timezone = tz.value; });
      var filter = h("input", { class: "mono", "data-path": "trigger.filter", placeholder: '{"status": "Qualified"}' });
      filter.value = t.filter && Object.keys(t.filter).length ? JSON.stringify(t.filter) : "";
      filter.addEventListener("change", function () {
        try { t.filter = filter.value.trim() ? JSON.parse(filter.value) : {}; filter.setCustomValidity(""); }
        catch (e) { filter.setCustomValidity("not valid JSON"); filter.reportValidity(); }
      });
      grid.appendChild(field("Records", entity));
      grid.appendChild(field("Cron", cron, { hint: "minute hour day month weekday — 0 9 * * 1-5 is 9:00 on weekdays" }));
      grid.appendChild(field("Time zone", tz));
      grid.appendChild(field("Only records matching (list filters, optional)", filter, { span: true, hint: 'The same filters as the list API, e.g. {"status": "Qualified", "value__gte": 1000}' }));
    } else {
      var known = this.config.events.indexOf(t.event) !== -1;
      var options = this.config.events.map(function (e) { return [e, e]; });
      options.push(["*other*", "Another event or a pattern (lead.*)…"]);
      var ev = select(options, known ? t.event : "*other*", { "data-path": "trigger.event" });
      var other = h("input", { value: known ? "" : (t.event || ""), placeholder: "lead.* or *.created", class: "mono", "data-path": "trigger.event" });
      ev.addEventListener("change", function () {
        t.event = ev.value === "*other*" ? (other.value || "lead.*") : ev.value;
        self.renderTrigger(); self.renderConditions(); self.renderActions();
      });
      other.addEventListener("change", function () { t.event = other.value.trim(); self.renderConditions(); self.renderActions(); });
      grid.appendChild(field("Event", ev));
      if (!known) grid.appendChild(field("Pattern", other, { hint: "* matches anything: lead.* is every lead event" }));
    }
    box.appendChild(grid);
  };

  // -- conditions ------------------------------------------------------------------------------

  // The builder shows groups two levels deep; anything else (not, deeper nesting) is edited as JSON.
  Editor.prototype.simpleTree = function (node, depth) {
    var key = node.all ? "all" : node.any ? "any" : null;
    if (!key || Object.keys(node).length !== 1 || depth > 1) return false;
    var self = this;
    return node[key].every(function (c) {
      if (c.all || c.any || c.not) return self.simpleTree(c, depth + 1);
      return typeof c.field === "string";
    });
  };

  Editor.prototype.fieldOptions = function () {
    var entity = this.entity();
    var fields = entity ? this.config.entities[entity].fields.slice() : ["name", "status", "owner_id", "tags"];
    var t = this.rule.trigger || {};
    if (t.type === "event") fields = fields.concat(["event.from", "event.to"]);
    return fields.map(function (f) { return [f, f.replace(/_/g, " ")]; });
  };

  Editor.prototype.renderConditions = function () {
    var self = this;
    var box = document.getElementById("au-conditions");
    box.textContent = "";
    if (this.advanced) {
      var ta = h("textarea", { class: "au-json", rows: "10", "data-path": "conditions", "aria-label": "Conditions as JSON" });
      ta.value = JSON.stringify(this.rule.conditions, null, 2);
      ta.addEventListener("change", function () {
        try { self.rule.conditions = ta.value.trim() ? JSON.parse(ta.value) : {}; ta.setCustomValidity(""); }
        catch (e) { ta.setCustomValidity("not valid JSON"); ta.reportValidity(); }
      });
      var back = h("button", { type: "button", class: "btn btn-sm", text: "Back to the builder", onclick: function () {
        try { self.rule.conditions = JSON.parse(ta.value || "{}"); } catch (e) { return; }
        if (!self.rule.conditions.all && !self.rule.conditions.any) self.rule.conditions = { all: Object.keys(self.rule.conditions).length ? [self.rule.conditions] : [] };
        if (!self.simpleTree(self.rule.conditions, 0)) { window.aicrm.toast("These conditions are too deep for the builder (it shows two levels and no 'not').", "info"); return; }
        self.advanced = false; self.renderConditions();
      } });
      box.appendChild(h("div", { class: "stack" }, [ta, h("div", { class: "au-row-tools" }, [back]),
        h("p", { class: "hint", text: 'Groups: {"all": [...]}, {"any": [...]}, {"not": {...}}. Comparisons: {"field": "value", "op": "gt", "value": 10000}.' })]));
      return;
    }
    box.appendChild(this.groupEl(this.rule.conditions, "conditions", 0, null));
    box.appendChild(h("div", { class: "au-row-tools", style: "margin-top: var(--s2)" }, [
      h("button", { type: "button", class: "btn btn-sm btn-ghost", text: "Edit as JSON", onclick: function () { self.advanced = true; self.renderConditions(); } }),
    ]));
  };

  Editor.prototype.groupEl = function (node, path, depth, onRemove) {
    var self = this;
    var key = node.any ? "any" : "all";
    var items = node[key];
    var mode = select([["all", "all"], ["any", "any"]], key, { "aria-label": "Match" });
    mode.addEventListener("change", function () {
      var list = node[key]; delete node[key]; node[mode.value] = list; self.renderConditions();
    });
    var head = h("div", { class: "au-group-head" }, [
      h("span", { text: depth === 0 ? "Run only if" : "A group where" }), mode,
      h("span", { text: items.length ? "of these hold:" : "of these hold (none yet: always runs)" }),
    ]);
    if (onRemove) head.appendChild(h("button", { type: "button", class: "btn btn-sm btn-ghost", text: "Remove group", onclick: onRemove }));
    var group = h("div", { class: "au-group", "data-path": path }, [head]);
    items.forEach(function (item, i) {
      var childPath = path + "." + key + "[" + i + "]";
      var remove = function () { items.splice(i, 1); self.renderConditions(); };
      if (item.all || item.any) group.appendChild(self.groupEl(item, childPath, depth + 1, remove));
      else group.appendChild(self.leafEl(item, childPath, remove));
    });
    var tools = h("div", { class: "au-group-tools" }, [
      h("button", { type: "button", class: "btn btn-sm", text: "+ Condition", onclick: function () {
        items.push({ field: self.fieldOptions()[0][0], op: "eq", value: "" }); self.renderConditions();
      } }),
    ]);
    if (depth === 0) tools.appendChild(h("button", { type: "button", class: "btn btn-sm", text: key === "all" ? "+ Group of alternatives (OR)" : "+ Group (AND)", onclick: function () {
      var inner = {}; inner[key === "all" ? "any" : "all"] = [{ field: self.fieldOptions()[0][0], op: "eq", value: "" }];
      items.push(inner); self.renderConditions();
    } }));
    group.appendChild(tools);
    return group;
  };

  Editor.prototype.leafEl = function (leaf, path, onRemove) {
    var self = this;
    var fields = this.fieldOptions();
    if (!fields.some(function (f) { return f[0] === leaf.field; })) fields.unshift([leaf.field, leaf.field]);
    var f = select(fields, leaf.field, { "aria-label": "Field", "data-path": path + ".field" });
    var ops = this.config.ops.map(function (o) { return [o.value, o.label]; });
    var op = select(ops, leaf.op, { "aria-label": "Comparison", "data-path": path + ".op" });
    var kind = (this.config.ops.filter(function (o) { return o.value === leaf.op; })[0] || {}).value_kind || "one";
    var value = h("input", { "aria-label": "Value", "data-path": path + ".value", value: showValue(leaf.value),
      placeholder: kind === "list" ? "a, b, c" : kind === "none" ? "—" : "value", list: leaf.field === "status" || leaf.field === "event.to" || leaf.field === "event.from" ? "au-statuses" : null });
    if (kind === "none") value.disabled = true;
    f.addEventListener("change", function () { leaf.field = f.value; self.renderConditions(); });
    op.addEventListener("change", function () {
      leaf.op = op.value;
      var k = (self.config.ops.filter(function (o) { return o.value === op.value; })[0] || {}).value_kind;
      if (k === "none") delete leaf.value;
      else if (k === "list") leaf.value = Array.isArray(leaf.value) ? leaf.value : (leaf.value === undefined || leaf.value === "" ? [] : [leaf.value]);
      else if (Array.isArray(leaf.value)) leaf.value = leaf.value[0];
      self.renderConditions();
    });
    value.addEventListener("input", function () {
      var k = (self.config.ops.filter(function (o) { return o.value === leaf.op; })[0] || {}).value_kind;
      leaf.value = k === "list"
        ? value.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean).map(parseValue)
        : parseValue(value.value);
    });
    var wrap = function (el) { return h("div", { class: "field" }, [el]); };
    return h("div", { class: "au-row" }, [wrap(f), wrap(op), wrap(value),
      h("button", { type: "button", class: "icon-btn", "aria-label": "Remove condition", title: "Remove", text: "×", onclick: onRemove })]);
  };

  // -- actions ---------------------------------------------------------------------------------

  var DEFAULTS = {
    set_field: function () { return { type: "set_field", field: "status", value: "" }; },
    assign_owner: function () { return { type: "assign_owner", team_id: null, user_id: null, strategy: "least_loaded" }; },
    create_task: function () { return { type: "create_task", title: "Follow up with {{ record.name }}", due_in_days: 1, priority: "medium" }; },
    add_tag: function () { return { type: "add_tag", tags: [] }; },
    notify: function () { return { type: "notify", title: "{{ rule.name }}: {{ record.name }}", owner: true, user_ids: [] }; },
    send_email: function () { return { type: "send_email", to: "record", subject: "", body: "" }; },
    call_webhook: function () { return { type: "call_webhook", url: "https://" }; },
    start_followup_sequence: function () { return { type: "start_followup_sequence", sequence_id: 1 }; },
    request_ai_scoring: function () { return { type: "request_ai_scoring" }; },
  };

  Editor.prototype.renderActions = function () {
    var self = this;
    var box = document.getElementById("au-actions");
    box.textContent = "";
    var actions = this.rule.actions = this.rule.actions || [];
    actions.forEach(function (a, i) { box.appendChild(self.actionEl(a, i)); });
    var types = this.config.actions.map(function (a) { return [a.type, a.label]; });
    var pick = select([["", "Add an action…"]].concat(types), "", { "aria-label": "Add an action", "data-path": "actions" });
    pick.addEventListener("change", function () {
      if (!pick.value) return;
      actions.push(DEFAULTS[pick.value]()); self.renderActions();
    });
    box.appendChild(h("div", { class: "au-row-tools" }, [pick]));
    if (!document.getElementById("au-statuses")) {
      var dl = h("datalist", { id: "au-statuses" });
      this.config.statuses.forEach(function (s) { dl.appendChild(h("option", { value: s })); });
      document.body.appendChild(dl);
    }
  };

  Editor.prototype.actionEl = function (a, i) {
    var self = this;
    var path = "actions[" + i + "]";
    var label = (this.config.actions.filter(function (x) { return x.type === a.type; })[0] || { label: a.type }).label;
    var move = function (delta) { var j = i + delta; var list = self.rule.actions; if (j < 0 || j >= list.length) return; list.splice(j, 0, list.splice(i, 1)[0]); self.renderActions(); };
    var head = h("div", { class: "au-action-head", "data-path": path + ".type" }, [
      h("span", { class: "au-step", text: String(i + 1) }), h("strong", { text: label }),
      h("button", { type: "button", class: "icon-btn", "aria-label": "Move up", title: "Move up", text: "↑", onclick: function () { move(-1); } }),
      h("button", { type: "button", class: "icon-btn", "aria-label": "Move down", title: "Move down", text: "↓", onclick: function () { move(1); } }),
      h("button", { type: "button", class: "icon-btn", "aria-label": "Remove action", title: "Remove", text: "×", onclick: function () { self.rule.actions.splice(i, 1); self.renderActions(); } }),
    ]);
    var grid = h("div", { class: "form-grid" });
    var text = function (key, title, opts) {
      opts = opts || {};
      var el = h(opts.area ? "textarea" : "input", { "data-path": path + "." + key, placeholder: opts.placeholder || "", rows: opts.area ? "3" : null, type: opts.type || null });
      el.value = a[key] === undefined || a[key] === null ? "" : String(a[key]);
      el.addEventListener("input", function () {
        a[key] = opts.type === "number" ? (el.value === "" ? null : Number(el.value)) : el.value;
      });
      grid.appendChild(field(title, el, { span: opts.span, hint: opts.hint }));
    };
    var members = this.config.members.map(function (m) { return [m.id, m.name]; });
    var teams = this.config.teams.map(function (t) { return [t.id, t.name]; });
    var who = function (allowOwner) {
      var value = a.team_id ? "team:" + a.team_id : a.user_id ? "user:" + a.user_id : "";
      var opts = [["", allowOwner ? "The record's owner" : "Pick…"]]
        .concat(teams.map(function (t) { return ["team:" + t[0], "Team " + t[1]]; }))
        .concat(members.map(function (m) { return ["user:" + m[0], m[1]]; }));
      var sel = select(opts, value, { "data-path": path + (a.team_id ? ".team_id" : ".user_id") });
      sel.addEventListener("change", function () {
        a.user_id = null; a.team_id = null;
        if (sel.value.indexOf("team:") === 0) a.team_id = Number(sel.value.slice(5));
        if (sel.value.indexOf("user:") === 0) a.user_id = Number(sel.value.slice(5));
        self.renderActions();
      });
      grid.appendChild(field(allowOwner ? "Assign to" : "Owner", sel, { hint: "A team: its least-loaded member (or members in turn)" }));
      if (a.team_id) {
        var strat = select([["least_loaded", "Least loaded member"], ["round_robin", "Members in turn"]], a.strategy || "least_loaded", { "data-path": path + ".strategy" });
        strat.addEventListener("change", function () { a.strategy = strat.value; });
        grid.appendChild(field("Pick", strat));
      }
    };
    var entity = this.entity();
    if (a.type === "set_field") {
      var settable = entity ? this.config.entities[entity].settable : [];
      var opts = settable.map(function (f) { return [f, f.replace(/_/g, " ")]; });
      if (a.field && settable.indexOf(a.field) === -1) opts.unshift([a.field, a.field]);
      var fsel = select(opts, a.field, { "data-path": path + ".field" });
      fsel.addEventListener("change", function () { a.field = fsel.value; self.renderActions(); });
      var val = h("input", { "data-path": path + ".value", value: showValue(a.value), list: a.field === "status" ? "au-statuses" : null });
      val.addEventListener("input", function () { a.value = val.value === "" ? null : parseValue(val.value); });
      grid.appendChild(field("Field", fsel, { hint: entity ? null : "Pick a trigger on one record type first" }));
      grid.appendChild(field("New value", val));
    } else if (a.type === "assign_owner") {
      who(false);
    } else if (a.type === "create_task") {
      text("title", "Title", { span: true, hint: "Placeholders: {{ record.name }}, {{ record.value }}, {{ event.to }}, {{ link }}" });
      text("description", "Description", { span: true, area: true });
      text("due_in_days", "Due in (days)", { type: "number" });
      var pr = select([["low", "Low"], ["medium", "Medium"], ["high", "High"], ["urgent", "Urgent"]], a.priority || "medium", { "data-path": path + ".priority" });
      pr.addEventListener("change", function () { a.priority = pr.value; });
      grid.appendChild(field("Priority", pr));
      who(true);
    } else if (a.type === "add_tag") {
      var tags = h("input", { "data-path": path + ".tags", value: (a.tags || []).join(", "), placeholder: "hot, priority" });
      tags.addEventListener("input", function () { a.tags = tags.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean); });
      grid.appendChild(field("Tags (comma separated)", tags, { span: true }));
    } else if (a.type === "notify") {
      text("title", "Title", { span: true, hint: "Placeholders: {{ record.name }}, {{ rule.name }}" });
      text("body", "Message", { span: true, area: true });
      var team = select([["", "No team"]].concat(teams), a.team_id || "", { "data-path": path + ".team_id" });
      team.addEventListener("change", function () { a.team_id = team.value ? Number(team.value) : null; self.renderActions(); });
      grid.appendChild(field("Team", team));
      if (a.team_id) {
        var scope = select([["managers", "Its manager(s)"], ["members", "Every member"]], a.team_scope || "managers", { "data-path": path + ".team_scope" });
        scope.addEventListener("change", function () { a.team_scope = scope.value; });
        grid.appendChild(field("Who in the team", scope));
      }
      var people = h("div", { class: "au-people", "data-path": path + ".user_ids", role: "group", "aria-label": "People" });
      members.forEach(function (m) {
        var box = h("input", { type: "checkbox", value: String(m[0]), checked: (a.user_ids || []).indexOf(m[0]) !== -1 });
        box.addEventListener("change", function () {
          var ids = (a.user_ids || []).filter(function (u) { return u !== m[0]; });
          if (box.checked) ids.push(m[0]);
          a.user_ids = ids;
        });
        people.appendChild(h("label", { class: "check-label" }, [box, " " + m[1]]));
      });
      grid.appendChild(h("div", { class: "field" }, [h("span", { class: "au-label", text: "People" }), people]));
      var owner = h("input", { type: "checkbox", checked: !!a.owner, "data-path": path + ".owner" });
      owner.addEventListener("change", function () { a.owner = owner.checked; });
      grid.appendChild(h("label", { class: "check-label" }, [owner, " The record's owner"]));
    } else if (a.type === "send_email") {
      text("to", "To", { hint: "record (its email or its contact's) or an address" });
      text("subject", "Subject");
      text("body", "Body", { span: true, area: true });
    } else if (a.type === "call_webhook") {
      text("url", "URL", { span: true });
      text("secret", "Signing secret (optional)");
    } else if (a.type === "start_followup_sequence") {
      text("sequence_id", "Sequence id", { type: "number" });
    } else if (a.type === "request_ai_scoring") {
      grid.appendChild(h("p", { class: "hint span-2", text: "Queues an AI re-score of the lead." }));
    }
    return h("div", { class: "au-action", "data-path": path }, [head, grid]);
  };

  // -- saving ----------------------------------------------------------------------------------

  Editor.prototype.body = function () {
    var r = this.rule;
    var actions = (r.actions || []).map(function (a) {
      var out = {};
      Object.keys(a).forEach(function (k) { if (a[k] !== null && a[k] !== undefined && a[k] !== "") out[k] = a[k]; });
      out.type = a.type;
      return out;
    });
    return { name: (r.name || "").trim(), description: r.description || "", enabled: r.enabled !== false, trigger: r.trigger, conditions: r.conditions, actions: actions };
  };

  Editor.prototype.clearErrors = function () {
    this.root.querySelectorAll(".field-error.au-err").forEach(function (e) { e.remove(); });
    this.root.querySelectorAll(".has-error").forEach(function (e) { e.classList.remove("has-error"); });
    var alert = document.getElementById("au-alert");
    alert.hidden = true; alert.textContent = "";
  };

  Editor.prototype.showErrors = function (problem, fallback) {
    var self = this;
    var unplaced = [];
    ((problem && problem.errors) || []).forEach(function (e) {
      var target = e.field ? self.root.querySelector('[data-path="' + CSS.escape(e.field) + '"]') : null;
      if (!target && e.field) {
        // a deeper path than the form shows (actions[0].tags[1]): its nearest shown parent
        var p = e.field;
        while (!target && /[.[]/.test(p)) {
          p = p.replace(/(\.[^.[\]]+|\[\d+\])$/, "");
          target = self.root.querySelector('[data-path="' + CSS.escape(p) + '"]');
        }
      }
      if (!target) { unplaced.push(e); return; }
      var holder = target.closest(".field") || target;
      holder.classList.add("has-error");
      holder.appendChild(h("p", { class: "field-error au-err", text: e.message }));
    });
    var alert = document.getElementById("au-alert");
    alert.hidden = false;
    alert.appendChild(h("div", { class: "alert alert-error", role: "alert" }, [
      h("div", {}, [h("strong", { text: (problem && problem.detail) || fallback || "The rule could not be saved" }),
        unplaced.length ? h("ul", { class: "au-errors" }, unplaced.map(function (e) { return h("li", { text: (e.field ? e.field + ": " : "") + e.message }); })) : null]),
    ]));
    var first = this.root.querySelector(".has-error");
    (first || alert).scrollIntoView({ behavior: "smooth", block: "center" });
  };

  Editor.prototype.save = async function () {
    this.clearErrors();
    var body = this.body();
    var url = "/api/v1/automation/rules" + (this.ruleId ? "/" + this.ruleId : "");
    if (this.ruleId) body.version = this.rule.version;
    var button = document.getElementById("au-save");
    button.disabled = true;
    try {
      var saved = await window.aicrm.api(this.ruleId ? "PATCH" : "POST", url, body);
      location.href = "/automation/" + saved.id;
    } catch (err) {
      if (err.status === 412) this.showErrors(null, "Someone else changed this rule; reload the page to see their version.");
      else this.showErrors(err.problem, err.message);
    } finally {
      button.disabled = false;
    }
  };

  // -- dry run ---------------------------------------------------------------------------------

  function csrfToken() {
    // the cookie is authoritative (a sign-in in another tab rotates it), as in app.js
    var m = document.cookie.match(/(?:^|;\s*)aicrm_csrf=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function setupDryRun(editor) {
    var panel = document.getElementById("au-dry-run");
    var go = document.getElementById("au-dry-go");
    if (!panel || !go) return;
    go.addEventListener("click", async function () {
      var entityType = document.getElementById("au-dry-type").value;
      var id = Number(document.getElementById("au-dry-id").value);
      var body = { entity_type: entityType };
      if (id) body.entity_id = id;
      if (editor) body.rule = editor.body();
      else body.rule_id = Number(panel.dataset.ruleId);
      go.disabled = true;
      try {
        var res = await fetch("/automation/dry-run", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken(), "HX-Request": "true" },
          body: JSON.stringify(body),
        });
        var html = await res.text();
        var target = document.getElementById("dry-run-result");
        target.outerHTML = html;
      } catch (e) {
        window.aicrm.toast("The dry run did not reach the server; try again.", "error");
      } finally {
        go.disabled = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("rule-editor");
    var editor = root ? new Editor(root) : null;
    // the record type of the dry run follows the rule's trigger
    var type = document.getElementById("au-dry-type");
    if (editor && type && editor.entity() && type.value !== editor.entity()) {
      type.value = editor.entity();
      type.dispatchEvent(new Event("change"));
    }
    setupDryRun(editor);
  });
})();
