// edged status page: polls /api/status and keeps one card per source and pipeline.
// Live previews are MJPEG <img>s. A browser opens at most six connections per host,
// and each live preview holds one, so only MAX_LIVE previews stream at a time; the
// others show a still and a "Watch live" button. Streams stop while the tab is hidden.
"use strict";

(function () {
  const POLL_MS = 2000;
  const MAX_LIVE = 4;
  const STILL_REFRESH_MS = 10000;
  const BLANK = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw==";

  const $ = (id) => document.getElementById(id);
  const cards = new Map(); // "source:cam0" | "pipeline:people" -> card
  let liveOrder = []; // card keys, oldest first
  let hidden = document.hidden;
  let polls = 0;

  // ---------------------------------------------------------------- formatting

  function num(value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    if (typeof value !== "number") return String(value);
    if (Number.isInteger(value) && digits === undefined) return value.toLocaleString("en-US");
    return value.toFixed(digits === undefined ? 2 : digits);
  }

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 1) return Math.round(seconds * 1000) + " ms";
    if (seconds < 120) return seconds.toFixed(1) + " s";
    return Math.round(seconds / 60) + " min";
  }

  function duration(seconds) {
    const s = Math.floor(seconds || 0);
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + m + "m";
    if (m) return m + "m " + (s % 60) + "s";
    return s + "s";
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function stats(dl, rows) {
    dl.replaceChildren();
    for (const [label, value, cls] of rows) {
      const box = el("div");
      box.append(el("dt", "", label), el("dd", cls || "", value));
      dl.append(box);
    }
  }

  function withParam(url, key, value) {
    return url + (url.indexOf("?") >= 0 ? "&" : "?") + key + "=" + encodeURIComponent(value);
  }

  // ---------------------------------------------------------------- previews

  function makeCard(key, container) {
    const node = $("source-card").content.firstElementChild.cloneNode(true);
    const card = {
      key: key,
      node: node,
      img: node.querySelector(".preview img"),
      badge: node.querySelector(".badge"),
      play: node.querySelector(".play"),
      title: node.querySelector("h3"),
      kind: node.querySelector(".kind"),
      sub: node.querySelector(".sub"),
      stats: node.querySelector(".stats"),
      error: node.querySelector(".error"),
      extra: null,
      stream: null,
      snapshot: null,
      live: false,
      stillAt: 0,
      retry: null,
    };
    card.img.addEventListener("error", () => {
      if (!card.live || hidden || card.retry) return;
      card.retry = setTimeout(() => { card.retry = null; show(card); }, 2000);
    });
    card.play.addEventListener("click", () => goLive(card));
    container.append(node);
    cards.set(key, card);
    return card;
  }

  function show(card) {
    const img = card.img;
    if (card.live && !hidden && card.stream) {
      img.src = withParam(card.stream, "t", Date.now());
      card.badge.classList.add("live");
      card.badge.textContent = "live";
      card.play.hidden = true;
    } else {
      card.badge.classList.remove("live");
      card.badge.textContent = card.live ? "paused" : "still";
      card.play.hidden = !card.stream;
      if (!card.live && card.snapshot && !hidden) {
        card.stillAt = Date.now();
        img.src = withParam(card.snapshot, "t", card.stillAt);
      } else {
        img.src = BLANK;
      }
    }
  }

  function goLive(card) {
    if (card.live) return;
    while (liveOrder.length >= MAX_LIVE) {
      const oldest = cards.get(liveOrder.shift());
      if (oldest) { oldest.live = false; show(oldest); }
    }
    card.live = true;
    liveOrder.push(card.key);
    show(card);
    updateHint();
  }

  function dropCard(key) {
    const card = cards.get(key);
    if (!card) return;
    card.img.src = BLANK;
    card.node.remove();
    cards.delete(key);
    liveOrder = liveOrder.filter((k) => k !== key);
  }

  function updateHint() {
    const paused = cards.size - liveOrder.length;
    $("live-hint").textContent = paused > 0
      ? liveOrder.length + " live previews; press Watch live on a still to switch"
      : "";
  }

  document.addEventListener("visibilitychange", () => {
    hidden = document.hidden;
    for (const card of cards.values()) show(card);
  });

  // ---------------------------------------------------------------- rendering

  function setPreview(card, stream, snapshot) {
    const changed = card.stream !== stream;
    card.stream = stream;
    card.snapshot = snapshot;
    if (changed) {
      if (!card.live && liveOrder.length < MAX_LIVE) {
        card.live = true;
        liveOrder.push(card.key);
      }
      show(card);
    } else if (!card.live && Date.now() - card.stillAt > STILL_REFRESH_MS) {
      show(card);
    }
  }

  function stateCell(state) {
    return [state, "state-" + state];
  }

  function renderSource(card, s) {
    card.title.textContent = s.id;
    card.kind.textContent = s.kind;
    card.sub.textContent = s.uri || "";
    card.sub.title = s.uri || "";
    const [state, cls] = stateCell(s.state);
    stats(card.stats, [
      ["State", state, cls],
      ["FPS", num(s.fps, 1)],
      ["Frame age", age(s.frame_age_s)],
      ["Dropped", num(s.dropped)],
      ["Reconnects", num(s.reconnects)],
      ["Size", s.width ? s.width + "×" + s.height : "–"],
    ]);
    card.error.hidden = !s.last_error || s.state === "streaming";
    card.error.textContent = s.last_error || "";
    setPreview(card, s.stream, s.snapshot);
  }

  function summaryChips(summary) {
    const chips = [];
    if (!summary) return chips;
    for (const [key, value] of Object.entries(summary)) {
      const chip = el("span", "chip");
      let text;
      if (value && typeof value === "object" && !Array.isArray(value) && "value" in value) {
        text = num(value.value, 2) + (value.unit ? " " + value.unit : "");
      } else if (Array.isArray(value)) {
        text = String(value.length);
      } else if (typeof value === "boolean") {
        text = value ? "yes" : "no";
        if (value) chip.classList.add("on");
      } else if (typeof value === "number") {
        text = Number.isInteger(value) ? String(value) : num(value, 3);
      } else {
        text = value === null ? "–" : String(value);
      }
      chip.append(document.createTextNode(key.replace(/_/g, " ") + " "), el("b", "", text));
      chips.push(chip);
    }
    return chips;
  }

  function renderPipeline(card, p) {
    card.title.textContent = p.id;
    card.kind.textContent = p.kind;
    const parts = [];
    if (p.model) parts.push(String(p.model).split("/").pop());
    if (p.backend) parts.push(p.backend);
    if (p.parse) parts.push(p.parse + " parse");
    parts.push("on " + (p.sources || []).join(", "));
    card.sub.textContent = parts.join(" · ");
    card.sub.title = p.model || "";
    const [state, cls] = stateCell(p.state);
    stats(card.stats, [
      ["State", state, cls],
      ["Processed", num(p.processed)],
      ["Errors", num(p.errors)],
      ["Skipped", num(p.skipped_frames)],
      ["Restarts", num(p.restarts)],
      ["Latency", latencyTotal(p.timings_ms)],
    ]);
    if (!card.extra) {
      card.extra = { stages: el("div", "stages"), chips: el("div", "chips") };
      card.stats.after(card.extra.stages, card.extra.chips);
    }
    const timings = p.timings_ms || {};
    const peak = Math.max(0.001, ...Object.values(timings));
    card.extra.stages.replaceChildren();
    for (const [stage, ms] of Object.entries(timings)) {
      const row = el("div", "stage");
      const bar = el("div", "bar");
      const fill = el("span");
      fill.style.width = Math.max(2, (100 * ms) / peak).toFixed(1) + "%";
      bar.append(fill);
      row.append(el("span", "muted", stage), bar, el("span", "ms", num(ms, 1) + " ms"));
      card.extra.stages.append(row);
    }
    card.extra.chips.replaceChildren(...summaryChips(p.last_result));
    card.error.hidden = !p.last_error;
    card.error.textContent = p.last_error || "";
    setPreview(card, p.stream, p.snapshot);
  }

  function latencyTotal(timings) {
    const values = Object.values(timings || {});
    if (!values.length) return "–";
    return num(values.reduce((a, b) => a + b, 0), 1) + " ms";
  }

  function syncCards(kind, items, container, render) {
    const seen = new Set();
    for (const item of items) {
      const key = kind + ":" + item.id;
      seen.add(key);
      render(cards.get(key) || makeCard(key, container), item);
    }
    for (const key of Array.from(cards.keys())) {
      if (key.startsWith(kind + ":") && !seen.has(key)) dropCard(key);
    }
  }

  function renderSinks(sinks) {
    const body = $("sinks");
    body.replaceChildren();
    if (!sinks.length) {
      const row = el("tr");
      const cell = el("td", "detail", "No sinks configured.");
      cell.colSpan = 9;
      row.append(cell);
      body.append(row);
      return;
    }
    for (const s of sinks) {
      const row = el("tr");
      let state = "running";
      let cls = "state-running";
      if ("connected" in s) {
        state = s.connected ? "connected" : "disconnected";
        cls = s.connected ? "state-running" : "state-failed";
      } else if (s.last_error) {
        state = "restarting";
        cls = "state-backoff";
      }
      const spool = s.spool && typeof s.spool === "object" ? s.spool.depth : s.spool_depth;
      const problem = s.connection_error || s.last_error;
      const detail = s.url || s.broker || s.path || "";
      row.append(
        el("td", "", s.name),
        el("td", cls, state),
        el("td", "num", num(s.handled)),
        el("td", "num", num(s.queue_depth)),
        el("td", "num", num((s.queue_dropped || 0) + (s.dropped || 0))),
        el("td", "num", spool === undefined ? "–" : num(spool)),
        el("td", "num", "published" in s ? num(s.published) : "–"),
        el("td", "num", "acked" in s ? num(s.acked) : "–"),
        el("td", "detail", detail + (problem ? " — " + problem : "")),
      );
      body.append(row);
    }
  }

  function renderTryOptions(pipelines) {
    const select = $("try-pipeline");
    const current = select.value;
    const ids = pipelines.map((p) => p.id);
    const existing = Array.from(select.options).map((o) => o.value);
    if (ids.join("\n") === existing.join("\n")) return;
    select.replaceChildren(...ids.map((id) => {
      const option = el("option", "", id);
      option.value = id;
      return option;
    }));
    if (ids.includes(current)) select.value = current;
    $("try-go").disabled = !ids.length;
  }

  function render(status) {
    $("device").textContent = status.device_id;
    $("version").textContent = "v" + status.version;
    $("uptime").textContent = "up " + duration(status.uptime_s);
    const health = status.health || { ok: true, reasons: [] };
    const pill = $("health");
    pill.className = "pill " + (health.ok ? "pill-ok" : "pill-bad");
    pill.textContent = health.ok
      ? "healthy"
      : health.reasons.length + (health.reasons.length === 1 ? " problem" : " problems");
    const reasons = health.reasons.slice();
    for (const f of status.failed || []) {
      if (f.part === "sink") reasons.push("sink " + f.id + " failed to start: " + f.error);
    }
    $("problems").hidden = !reasons.length;
    $("reasons").replaceChildren(...reasons.map((r) => el("li", "", r)));
    syncCards("source", status.sources || [], $("sources"), renderSource);
    syncCards("pipeline", status.pipelines || [], $("pipelines"), renderPipeline);
    $("no-pipelines").hidden = (status.pipelines || []).length > 0;
    renderSinks(status.sinks || []);
    renderTryOptions(status.pipelines || []);
    const http = status.http || {};
    $("manage").hidden = !http.manage;
    if (http.manage) loadCameras();
    $("http-stats").textContent =
      "Previews: " + Object.keys(http.streams || {}).length + " streams, " +
      num(http.viewers || 0) + " viewers · " + num(http.encodes || 0) + " JPEG encodes · " +
      "cap " + num(http.stream_fps, 0) + " fps";
    updateHint();
  }

  async function poll() {
    try {
      const response = await fetch("/api/status", { cache: "no-store", credentials: "same-origin" });
      if (response.status === 401) { window.location.reload(); return; }
      if (!response.ok) throw new Error("HTTP " + response.status);
      render(await response.json());
    } catch (err) {
      const pill = $("health");
      pill.className = "pill pill-wait";
      pill.textContent = "unreachable";
    } finally {
      // once soon after the first load, so the counters include the previews just opened
      setTimeout(poll, polls++ ? POLL_MS : 500);
    }
  }

  // ---------------------------------------------------------------- try it

  async function errorText(response) {
    try {
      const body = await response.json();
      const text = body.error || ("HTTP " + response.status);
      return body.fix ? text + " (fix: " + body.fix + ")" : text;
    } catch (err) {
      return "HTTP " + response.status;
    }
  }

  $("try").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = $("try-file").files[0];
    const pipeline = $("try-pipeline").value;
    if (!file || !pipeline) return;
    const status = $("try-status");
    const image = $("try-image");
    const json = $("try-json");
    const button = $("try-go");
    button.disabled = true;
    status.className = "try-status muted";
    status.textContent = "Running " + pipeline + " on " + file.name + "…";
    const url = "/api/infer/" + encodeURIComponent(pipeline);
    const init = {
      method: "POST",
      body: file,
      credentials: "same-origin",
      headers: { "Content-Type": file.type || "application/octet-stream" },
    };
    try {
      const started = performance.now();
      const response = await fetch(url, init);
      if (!response.ok) throw new Error(await errorText(response));
      const body = await response.json();
      json.textContent = JSON.stringify(body, null, 2);
      json.hidden = false;
      if ($("try-annotate").checked) {
        const drawn = await fetch(url + "?annotate=1", init);
        if (!drawn.ok) throw new Error(await errorText(drawn));
        if (image.dataset.url) URL.revokeObjectURL(image.dataset.url);
        image.dataset.url = URL.createObjectURL(await drawn.blob());
        image.src = image.dataset.url;
        image.hidden = false;
      } else {
        image.hidden = true;
      }
      status.textContent = "Done in " + Math.round(performance.now() - started) + " ms.";
    } catch (err) {
      status.className = "try-status err";
      status.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });

  // ---------------------------------------------------------------- manage cameras

  const camStatus = (text, error) => {
    $("cam-status").className = "try-status " + (error ? "err" : "muted");
    $("cam-status").textContent = text;
  };

  // The entry being changed (as the API shows it: credentials masked), or null when adding.
  let editing = null;

  async function loadCameras() {
    let listing;
    try {
      const response = await fetch("/api/sources", { cache: "no-store", credentials: "same-origin" });
      if (!response.ok) return;
      listing = await response.json();
    } catch (err) {
      return;
    }
    const list = $("cam-list");
    const key = JSON.stringify(listing.sources);
    if (list.dataset.key === key) return;
    list.dataset.key = key;
    list.replaceChildren(...listing.sources.map((source) => {
      const item = el("li", "");
      const edit = el("button", "", "Edit");
      edit.type = "button";
      edit.dataset.edit = source.id;
      edit.addEventListener("click", () => editCamera(source));
      const remove = el("button", "", "Remove");
      remove.type = "button";
      remove.dataset.id = source.id;
      remove.addEventListener("click", () => removeCamera(source.id));
      item.append(el("strong", "", source.id), el("span", "kind", source.kind),
        el("code", "", source.uri === undefined ? "" : String(source.uri)), edit, remove);
      return item;
    }));
  }

  async function removeCamera(id) {
    if (!window.confirm("Remove camera " + id + "? It is removed from the config file too.")) return;
    camStatus("Removing " + id + "…");
    try {
      const response = await fetch("/api/sources/" + encodeURIComponent(id), {
        method: "DELETE",
        credentials: "same-origin",
      });
      if (!response.ok) throw new Error(await errorText(response));
      camStatus("Removed " + id + ".");
      if (editing && editing.id === id) resetForm();
      await loadCameras();
    } catch (err) {
      camStatus(err.message, true);
    }
  }

  function resetForm() {
    editing = null;
    for (const id of ["cam-id", "cam-uri", "cam-user", "cam-password"]) $(id).value = "";
    $("cam-id").readOnly = false;
    $("cam-kind").disabled = false;
    $("cam-password").placeholder = "optional";
    $("cam-add").textContent = "Add camera";
    $("cam-cancel").hidden = true;
    $("cam-snapshot").hidden = true;
  }

  // Fill the form with a camera's entry. The API never shows credentials back: the
  // password field stays empty, and left empty it keeps the stored password.
  function editCamera(source) {
    editing = source;
    $("cam-id").value = source.id;
    $("cam-id").readOnly = true;
    $("cam-kind").value = source.kind;
    $("cam-kind").disabled = true;
    $("cam-uri").value = source.uri === undefined ? "" : String(source.uri);
    $("cam-user").value = source.username || "";
    $("cam-password").value = "";
    const stored = source.password || source.password_file || source.password_env;
    $("cam-password").placeholder = stored ? "unchanged" : "optional";
    $("cam-add").textContent = "Save changes";
    $("cam-cancel").hidden = false;
    $("cam-snapshot").hidden = true;
    camStatus("Changing " + source.id + ": Test, then Save changes.");
  }

  // The body of a create or a change from the form. A change starts from the entry as
  // shown (masks included: a mask sent back keeps the stored secret).
  function formEntry() {
    const entry = editing ? Object.assign({}, editing) : {};
    entry.id = $("cam-id").value.trim();
    entry.kind = editing ? editing.kind : $("cam-kind").value; // a kind the list lacks stays
    const uri = $("cam-uri").value.trim();
    if (uri) entry.uri = uri; else delete entry.uri;
    const user = $("cam-user").value.trim();
    if (user) entry.username = user; else delete entry.username;
    const password = $("cam-password").value;
    if (password) {
      entry.password = password;
      delete entry.password_file;
      delete entry.password_env;
    }
    return entry;
  }

  $("cam-cancel").addEventListener("click", () => {
    resetForm();
    camStatus("Add a camera (Test shows a snapshot first), or change or remove one below.");
  });

  $("cam-test").addEventListener("click", async () => {
    const entry = formEntry();
    if (!$("cam-form").reportValidity()) return;
    const button = $("cam-test");
    const image = $("cam-snapshot");
    button.disabled = true;
    image.hidden = true;
    camStatus("Testing " + entry.id + "… (up to 10 s)");
    try {
      const response = await fetch("/api/sources/test", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(entry),
      });
      if (!response.ok) throw new Error("Test failed: " + await errorText(response));
      const body = await response.json();
      image.src = body.snapshot;
      image.hidden = false;
      camStatus("Test passed: " + body.width + "×" + body.height + " from " + body.uri +
        " in " + num(body.elapsed_s, 1) + " s. Nothing saved yet.");
    } catch (err) {
      camStatus(err.message, true);
    } finally {
      button.disabled = false;
    }
  });

  $("cam-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const entry = formEntry();
    const changing = editing !== null;
    const button = $("cam-add");
    button.disabled = true;
    camStatus((changing ? "Saving " : "Adding ") + entry.id + "…");
    try {
      const url = "/api/sources" + (changing ? "/" + encodeURIComponent(entry.id) : "");
      const response = await fetch(url, {
        method: changing ? "PUT" : "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(entry),
      });
      if (!response.ok) throw new Error(await errorText(response));
      resetForm();
      camStatus((changing ? "Saved " : "Added ") + entry.id + ".");
      await loadCameras();
    } catch (err) {
      camStatus(err.message, true);
    } finally {
      button.disabled = false;
    }
  });

  poll();
})();
