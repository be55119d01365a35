// "Entradas de hoy" and the settings form. Served by the agent (agent/web/server.py); no library, no inline script.
// Rows: GET api/today once the live stream is open (so nothing published in between is missed), then rows pushed
// as Server-Sent Events ("entry"); both merged by entry id. One render builds the table body's HTML in one string
// and sets it once (a busy day of 3,000 rows in well under a second); the time it took is kept in
// document.body.dataset.renderMs (and the time since navigation in renderedAt) for the tests.
"use strict";

(function () {
  const cfg = JSON.parse(document.getElementById("config").textContent);
  const T = cfg.texts;
  const rows = new Map(); // entry id -> row
  const photoReady = new Set(); // members whose thumbnail arrived after their row was built
  let filter = "";
  let pending = false;
  let dayStart = 0; // the agent's start of today (ms since the epoch), from api/today

  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const fold = (s) => String(s).normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();

  function fmt(text, fields) {
    return text.replace(/\{(\w+)\}/g, (m, k) => (k in fields ? fields[k] : m));
  }

  function say(text) {
    const n = $("notice");
    n.textContent = text;
    n.hidden = !text;
  }

  // -- rows -------------------------------------------------------------------------------------------------------
  function render() {
    pending = false;
    const t0 = performance.now();
    for (const [id, r] of rows) if (r.t < dayStart) rows.delete(id); // yesterday's rows go at midnight
    const list = Array.from(rows.values());
    list.sort((a, b) => b.t - a.t || b.id - a.id);
    const parts = [];
    let shown = 0;
    for (const r of list) {
      if (filter && !r.folded.includes(filter)) continue;
      shown += 1;
      const photo = r.photo && r.member !== null
        ? `<img src="photo/${encodeURIComponent(r.member)}" alt="" loading="lazy" width="56" height="56">`
        : `<span class="nophoto" aria-hidden="true">${esc((r.name || "?").charAt(0))}</span>`;
      parts.push(
        `<tr tabindex="0" class="tone-${esc(r.tone)}" data-member="${r.member === null ? "" : esc(r.member)}" data-id="${r.id}">` +
        `<td class="time">${esc(r.time)}</td><td class="photo">${photo}</td><td class="name">${esc(r.name)}</td>` +
        `<td class="plan">${esc(r.plan)}</td><td class="status"><span class="dot" aria-hidden="true"></span>${esc(r.status)}</td></tr>`
      );
    }
    const active = document.activeElement;
    const focused = active && active.parentElement === $("rows") ? active.dataset.id : null;
    $("rows").innerHTML = parts.join("");
    if (focused) { // a live row must not take the keyboard user's place away
      const again = $("rows").querySelector(`tr[data-id="${focused}"]`);
      if (again) again.focus({ preventScroll: true });
    }
    $("empty").hidden = list.length > 0;
    $("count").textContent = fmt(T.count, { shown: shown, total: list.length });
    const ms = performance.now() - t0;
    document.body.dataset.renderMs = ms.toFixed(1);
    document.body.dataset.renderedAt = performance.now().toFixed(1); // since navigation start
    document.body.dataset.rows = String(shown);
  }

  function schedule() {
    if (!pending) {
      pending = true;
      requestAnimationFrame(render);
    }
  }

  function add(r) {
    r.folded = fold(r.name + " " + r.plan);
    r.t = Date.parse(r.at);
    if (photoReady.has(r.member)) r.photo = true;
    rows.set(r.id, r);
  }

  async function loadToday() {
    try {
      const res = await fetch("api/today", { cache: "no-store" });
      if (!res.ok) throw new Error(String(res.status));
      const data = await res.json();
      dayStart = Date.parse(data.day_start);
      for (const r of data.rows) add(r);
      say(data.db_ok ? "" : T.db_error);
      schedule();
    } catch (e) {
      say(T.offline);
    }
  }

  function live() {
    const source = new EventSource("events");
    source.addEventListener("open", () => {
      $("live").textContent = "● " + T.live;
      $("live").classList.add("on");
      loadToday(); // (re)read the day: covers whatever arrived while disconnected
    });
    source.addEventListener("entry", (ev) => {
      add(JSON.parse(ev.data));
      schedule();
    });
    source.addEventListener("photo", (ev) => {
      const member = JSON.parse(ev.data); // a thumbnail arrived in the photo cache
      photoReady.add(member);
      for (const r of rows.values()) if (r.member === member) r.photo = true;
      schedule();
    });
    source.addEventListener("error", () => {
      if (rows.size === 0) loadToday(); // the live stream is refused (too many tabs): still list the day
      $("live").textContent = T.offline;
      $("live").classList.remove("on");
    });
  }

  async function post(path, body) {
    const res = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      cache: "no-store",
    });
    if (!res.ok) throw new Error(res.status + " " + res.statusText);
    return res.json();
  }

  async function clickRow(tr) {
    if (!tr || !tr.dataset.member) return;
    try {
      const out = await post("api/click", { member: tr.dataset.member });
      say(out.ok ? "" : out.message);
    } catch (e) {
      say(fmt(T.failed, { detail: e.message }));
    }
  }

  function rowKeys(ev) {
    const tr = ev.target.closest("tr");
    if (!tr) return;
    if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      clickRow(tr);
    } else if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      const next = ev.key === "ArrowDown" ? tr.nextElementSibling : tr.previousElementSibling;
      if (next) next.focus();
      else if (ev.key === "ArrowUp") $("filter").focus();
    }
  }

  // -- settings ---------------------------------------------------------------------------------------------------
  const CONN = ["host", "port", "database", "user", "channel", "sslmode", "sslrootcert"];
  const NOTIF = [
    ["only_warnings", "checkbox"], ["expiry_warning_days", "number"], ["repeat_entry_warning_min", "number"],
    ["click_action", "text"], ["language", "select"],
  ];
  const NOTIF_LABELS = {
    only_warnings: "only_warnings", expiry_warning_days: "expiry_days", repeat_entry_warning_min: "repeat_min",
    click_action: "click_action", language: "language",
  };

  function field(parent, name, label, type, value, choices) {
    const wrap = document.createElement("div");
    wrap.className = "field " + type;
    const id = "f-" + name;
    const lab = document.createElement("label");
    lab.htmlFor = id;
    lab.textContent = label;
    let input;
    if (type === "select") {
      input = document.createElement("select");
      for (const c of choices) input.add(new Option(c, c, false, c === value));
    } else {
      input = document.createElement("input");
      input.type = type;
      if (type === "checkbox") input.checked = !!value;
      else input.value = value === null || value === undefined ? "" : String(value);
    }
    input.id = id;
    input.name = name;
    if (type === "checkbox") wrap.append(input, lab);
    else wrap.append(lab, input);
    parent.append(wrap);
    return input;
  }

  async function loadSettings() {
    const res = await fetch("api/settings", { cache: "no-store" });
    const v = await res.json();
    const server = $("server-fields");
    const notif = $("notification-fields");
    server.querySelectorAll(".field, .hint").forEach((n) => n.remove());
    notif.querySelectorAll(".field").forEach((n) => n.remove());
    for (const name of CONN) {
      const type = name === "sslmode" ? "select" : name === "port" ? "number" : "text";
      field(server, name, T["label_" + name], type, v.connection[name], v.sslmodes);
    }
    const pw = field(server, "password", T.password, "password", "");
    pw.autocomplete = "new-password";
    const hint = document.createElement("p");
    hint.className = "hint";
    hint.id = "password-hint";
    hint.textContent = v.password_stored ? T.password_stored : T.password_absent;
    server.append(hint);
    for (const [name, type] of NOTIF) {
      field(notif, name, T[NOTIF_LABELS[name]], type, v.notifications[name], v.languages);
    }
    if (v.autostart !== null) field(notif, "autostart", T.autostart, "checkbox", v.autostart);
  }

  function formData(action) {
    const f = $("settings-form");
    const body = { action: action, connection: {}, notifications: {} };
    for (const name of CONN) body.connection[name] = f.elements[name].value;
    for (const [name, type] of NOTIF) {
      const el = f.elements[name];
      body.notifications[name] = type === "checkbox" ? el.checked : el.value;
    }
    if (f.elements.autostart) body.autostart = f.elements.autostart.checked;
    if (f.elements.password.value) body.password = f.elements.password.value;
    return body;
  }

  async function submitSettings(action) {
    const f = $("settings-form");
    const out = $("result");
    const buttons = f.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    out.textContent = T.busy;
    out.className = "";
    try {
      const res = await post("api/settings", formData(action));
      out.textContent = res.lines.join("\n");
      out.className = res.ok ? "ok" : "bad";
      out.scrollIntoView({ block: "nearest" });
      if (res.saved) {
        f.elements.password.value = "";
        $("password-hint").textContent = T.password_stored;
        document.body.dataset.saved = "1";
      }
    } catch (e) {
      out.textContent = fmt(T.failed, { detail: e.message });
      out.className = "bad";
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  function show(which) {
    const settings = which === "settings" && cfg.settings;
    $("today").hidden = settings;
    $("settings").hidden = !settings;
    $("show-today").setAttribute("aria-pressed", String(!settings));
    $("show-settings").setAttribute("aria-pressed", String(settings));
    if (settings) loadSettings().then(() => $("f-host").focus());
  }

  // -- start ------------------------------------------------------------------------------------------------------
  function start() {
    for (const [id, key] of [
      ["filter-label", "filter"], ["col-time", "col_time"], ["col-photo", "col_photo"], ["col-name", "col_name"],
      ["col-plan", "col_plan"], ["col-status", "col_status"], ["empty", "empty"], ["hint", "click_hint"],
      ["legend", "legend"], ["show-settings", "settings"], ["server-legend", "server"],
      ["notification-legend", "notifications"], ["test", "test"], ["save", "save"], ["close", "close"],
    ]) $(id).textContent = T[key];
    $("filter").placeholder = T.filter;
    $("filter").addEventListener("input", (ev) => {
      filter = fold(ev.target.value.trim());
      schedule();
    });
    $("rows").addEventListener("click", (ev) => clickRow(ev.target.closest("tr")));
    $("rows").addEventListener("keydown", rowKeys);
    $("filter").addEventListener("keydown", (ev) => {
      if (ev.key === "ArrowDown" && $("rows").firstElementChild) {
        ev.preventDefault();
        $("rows").firstElementChild.focus();
      }
    });
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "/" && document.activeElement.tagName !== "INPUT") {
        ev.preventDefault();
        $("filter").focus();
      }
    });
    $("show-today").addEventListener("click", () => { location.hash = ""; show("today"); });
    $("show-settings").hidden = !cfg.settings;
    $("show-settings").addEventListener("click", () => { location.hash = "settings"; show("settings"); });
    $("settings-form").addEventListener("submit", (ev) => {
      ev.preventDefault(); // never a native submission (CSP form-action 'none' refuses it anyway)
      submitSettings(ev.submitter && ev.submitter.value === "test" ? "test" : "save");
    });
    $("close").addEventListener("click", async () => {
      if (cfg.standalone) {
        await post("api/close", {}).catch(() => null);
        $("result").textContent = T.closed;
      } else {
        location.hash = "";
        show("today");
      }
    });
    window.addEventListener("hashchange", () => show(location.hash === "#settings" ? "settings" : "today"));
    show(location.hash === "#settings" ? "settings" : "today");
    render();
    live();
    // A page left open overnight: once a day has passed since the listed day began, re-read the new day.
    setInterval(() => {
      if (dayStart && Date.now() >= dayStart + 86400000) loadToday();
    }, 60000);
  }

  start();
})();
