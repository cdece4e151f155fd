// The client's web page, a module script (strict, deferred). No framework: the DOM API (15 KB,
// 5 KB gzipped). Everything shown comes from the pushed state and is put in as text
// (textContent, text nodes), never as HTML: names come from other people.
const csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
const $ = (id) => document.getElementById(id);
const memo = new Map();
const open = new Set(JSON.parse(sessionStorage.getItem("open") || "[]"));
const PALETTE = ["#2b7bb9", "#e07b39", "#3a9d5d", "#8e5cc2", "#c2a23a", "#2bb5b0", "#c2456e", "#6b7a8f"];
let state = null;
let source = null;

/** An element with attributes, listeners (`on...`) and children; strings become text nodes. */
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(typeof c === "object" ? c : document.createTextNode(String(c)));
  }
  return el;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return `${seconds} s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m} min ${seconds % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Redraws `el`'s content with `draw()` only when `data` changed (keeps focus and scroll). */
function section(key, data, draw) {
  const text = JSON.stringify(data);
  if (memo.get(key) === text) return;
  memo.set(key, text);
  draw();
}

function message(title, outcome) {
  const li = h(
    "li",
    { class: outcome.ok ? "ok" : "error" },
    h("code", {}, `> ${title}`),
    outcome.ok ? outcome.lines.map((l) => h("div", {}, l)) : h("div", {}, `error: ${outcome.error}`),
  );
  const list = $("messages");
  list.prepend(li);
  while (list.children.length > 30) list.lastElementChild.remove();
}

/** Runs one client command, exactly as typed on the terminal; shows its lines or its error. */
async function run(command, args, title) {
  let outcome;
  try {
    const r = await fetch("/api/command", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ command, args }),
    });
    outcome = r.ok ? await r.json() : { ok: false, error: (await r.text()).trim() };
  } catch (err) {
    outcome = { ok: false, error: `the client did not answer (${err.message})` };
  }
  message(title || [command, ...args].join(" "), outcome);
  return outcome;
}

function button(label, onclick, extra) {
  return h("button", { type: "button", onclick, ...(extra || {}) }, label);
}

function setOpen(group, on) {
  if (on) open.add(group);
  else open.delete(group);
  sessionStorage.setItem("open", JSON.stringify([...open]));
  connect();
}

function renderHeader(s) {
  section("who", [s.user, s.peer, s.tracker], () => {
    $("who").textContent = s.user
      ? `${s.user} on ${s.peer} via ${s.tracker || "no tracker connected right now"}`
      : `not logged in; peer address ${s.peer}; ${s.tracker || "no tracker connected right now"}`;
  });
  $("failover").hidden = !s.failover;
  $("failover").textContent = s.failover || "";
  $("state-error").hidden = !s.error;
  $("state-error").textContent = s.error ? `cannot refresh the lists: ${s.error}` : "";
  $("logout").hidden = !s.user;
  $("account").hidden = !!s.user;
  $("groups-panel").hidden = !s.user;
  $("share-panel").hidden = !s.user;
  $("downloads-panel").hidden = !s.user && s.downloads.length === 0;
}

function renderGroups(s) {
  const owned = (g) => g.owner === s.user;
  section("groups", [s.user, s.groups, [...open]], () => {
    const rows = s.groups.map((g) =>
      h(
        "tr",
        { "data-group": g.id },
        h("td", {}, g.id),
        h("td", {}, g.owner, owned(g) ? " (you)" : ""),
        h("td", { class: "num" }, g.members),
        h("td", { class: "num" }, g.files),
        h(
          "td",
          { class: "actions" },
          owned(g)
            ? null
            : button(open.has(g.id) ? "Hide files" : "Files", () => setOpen(g.id, !open.has(g.id)), {
                "aria-expanded": String(open.has(g.id)),
              }),
          owned(g) ? null : button("Join", () => run("join_group", [g.id])),
          button("Leave", () => run("leave_group", [g.id])),
        ),
      ),
    );
    $("groups").tBodies[0].replaceChildren(
      ...(rows.length ? rows : [h("tr", {}, h("td", { colspan: 5, class: "dim" }, "no groups yet"))]),
    );
  });
  const pending = Object.entries(s.requests).flatMap(([g, users]) => users.map((u) => [g, u]));
  section("inbox", pending, () => {
    $("inbox-count").hidden = pending.length === 0;
    $("inbox-count").textContent = `${pending.length} request${pending.length === 1 ? "" : "s"}`;
    $("inbox").replaceChildren(
      ...pending.map(([g, u]) =>
        h(
          "div",
          { class: "request", "data-request": `${g}/${u}` },
          h("span", {}, h("strong", {}, u), " asks to join ", h("strong", {}, g)),
          button("Accept", () => run("accept_request", [g, u])),
          button("Reject", () => run("reject_request", [g, u])),
        ),
      ),
    );
  });
  section("files", [s.files, s.shares], () => {
    const shared = new Set(s.shares.map((x) => `${x.group}/${x.name}`));
    $("group-files").replaceChildren(
      ...Object.entries(s.files).map(([g, files]) =>
        h(
          "div",
          { class: "files", "data-files": g },
          h("h3", {}, "Files in ", g),
          files.error
            ? h("p", { class: "dim" }, files.error)
            : files.length === 0
              ? h("p", { class: "dim" }, "no files shared yet")
              : h(
                  "div",
                  { class: "scroll" },
                  h(
                    "table",
                    {},
                    h(
                      "thead",
                      {},
                      h(
                        "tr",
                        {},
                        h("th", {}, "File"),
                        h("th", {}, "Size"),
                        h("th", {}, "Seeders"),
                        h("th", {}, ""),
                      ),
                    ),
                    h(
                      "tbody",
                      {},
                      files.map((f) =>
                        h(
                          "tr",
                          { "data-file": f.name },
                          h("td", {}, f.name),
                          h("td", { class: "num", title: `${f.sizeBytes} bytes` }, bytes(f.sizeBytes)),
                          h("td", { class: "num" }, f.seeders),
                          h(
                            "td",
                            { class: "actions" },
                            shared.has(`${g}/${f.name}`)
                              ? button("Stop sharing", () => run("stop_share", [g, f.name]))
                              : button("Download…", () => prepareDownload(g, f.name)),
                          ),
                        ),
                      ),
                    ),
                  ),
                ),
        ),
      ),
    );
  });
  section("options", [s.groups, s.files], () => {
    $("group-options").replaceChildren(...s.groups.map((g) => h("option", { value: g.id })));
    const names = new Set(
      Object.values(s.files).flatMap((f) => (Array.isArray(f) ? f.map((x) => x.name) : [])),
    );
    $("file-options").replaceChildren(...[...names].sort().map((n) => h("option", { value: n })));
  });
  section("shares", s.shares, () => {
    $("shares").tBodies[0].replaceChildren(
      ...s.shares.map((x) =>
        h(
          "tr",
          {},
          h("td", {}, x.name),
          h("td", {}, x.group),
          h("td", { class: "path" }, x.path),
          h("td", { class: "num" }, bytes(x.sizeBytes)),
          h(
            "td",
            {},
            button("Stop sharing", () => run("stop_share", [x.group, x.name])),
          ),
        ),
      ),
    );
  });
}

function prepareDownload(group, name) {
  const form = $("download-form");
  form.elements.group.value = group;
  form.elements.file.value = name;
  form.elements.dest.focus();
}

function renderDownloads(s) {
  section("downloads", s.downloads, () => {
    const cards = s.downloads.map(downloadCard);
    $("downloads").replaceChildren(...cards.map((c) => c.card));
    for (const c of cards) c.draw(); // once in the page: canvases take their laid-out size
  });
}

function downloadCard(d) {
  const mark = d.state === "downloading" ? "D" : d.state === "complete" ? "C" : "F";
  const map = h("canvas", {
    class: "pieces",
    role: "img",
    "aria-label": "piece map: colour of the peer that delivered each piece",
  });
  const graph = h("canvas", { class: "graph", role: "img", "aria-label": "download rate over time" });
  const card = h(
    "article",
    { class: `download ${d.state}`, "data-download": `${d.group}/${d.name}`, "data-state": mark },
    h(
      "h3",
      {},
      h("span", { class: `mark ${mark}` }, `[${mark}]`),
      " ",
      d.name,
      h("span", { class: "dim" }, " from ", d.group),
    ),
    h("progress", { max: 100, value: d.percent, "aria-label": `${d.name} progress` }, `${d.percent}%`),
    h(
      "p",
      { class: "stats" },
      h("span", { class: "percent" }, `${d.percent}%`),
      ` ${bytes(d.bytesDone)} of ${bytes(d.sizeBytes)}`,
      d.state === "downloading" ? ` · ${bytes(d.bytesPerSecond)}/s · ${duration(d.secondsLeft)} left` : "",
      ` · ${(d.elapsedMs / 1000).toFixed(1)} s`,
    ),
    h("p", { class: "line" }, d.line),
    d.waiting ? h("p", { class: "warn waiting" }, d.waiting) : null,
    peersTable(d),
    map,
    legend(d),
    graph,
  );
  return {
    card,
    draw: () => {
      drawPieces(map, d);
      drawRates(graph, d.rateHistory, d.rateSampleTicks);
    },
  };
}

function peersTable(d) {
  if (d.peers.length === 0) return h("p", { class: "dim" }, "no peer contacted yet");
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      { class: "peers" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Peer", "State", "Has", "Delivered", "Rate", "Bad"].map((t) => h("th", {}, t)),
        ),
      ),
      h(
        "tbody",
        {},
        d.peers.map((p, i) =>
          h(
            "tr",
            { "data-peer": p.peer },
            h("td", {}, h("span", { class: `swatch c${i % PALETTE.length}` }), p.peer),
            h("td", { class: `state ${p.state}` }, p.state, p.reason ? `: ${p.reason}` : ""),
            h("td", { class: "num" }, `${p.piecesHeld}/${d.pieceCount}`),
            h("td", { class: "num" }, `${p.piecesDelivered} (${bytes(p.bytesDelivered)})`),
            h("td", { class: "num" }, `${bytes(p.bytesPerSecond)}/s`),
            h("td", { class: "num" }, p.badPieces),
          ),
        ),
      ),
    ),
  );
}

function legend(d) {
  const resumed = d.pieceSource.filter((x) => x === -2).length;
  return h(
    "p",
    { class: "legend dim" },
    `${d.pieceCount} pieces`,
    resumed ? ` · ${resumed} resumed (grey)` : "",
    d.badPieceIndexes.length ? ` · failed their check (red ✕): ${d.badPieceIndexes.join(", ")}` : "",
  );
}

/** Sizes a canvas's pixels to its laid-out size (sharp text and lines at any width). */
function fit(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 600;
  const height = canvas.clientHeight || 40;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { ctx, width, height };
}

function drawPieces(canvas, d) {
  const { ctx, width, height } = fit(canvas);
  const n = Math.max(1, d.pieceCount);
  const w = width / n;
  ctx.fillStyle = "rgba(128,128,128,0.15)";
  ctx.fillRect(0, 0, width, height);
  d.pieceSource.forEach((src, i) => {
    if (src === -1) return;
    ctx.fillStyle = src === -2 ? "#999" : PALETTE[src % PALETTE.length];
    ctx.fillRect(i * w, 0, Math.max(w - (w > 3 ? 1 : 0), 1), height);
  });
  ctx.strokeStyle = "#d22";
  ctx.lineWidth = 2;
  for (const i of d.badPieceIndexes) {
    const x = i * w + w / 2;
    const r = Math.min(5, height / 2 - 2);
    ctx.beginPath();
    ctx.moveTo(x - r, height / 2 - r);
    ctx.lineTo(x + r, height / 2 + r);
    ctx.moveTo(x + r, height / 2 - r);
    ctx.lineTo(x - r, height / 2 + r);
    ctx.stroke();
  }
}

function drawRates(canvas, rates, ticksPerSample) {
  const { ctx, width, height } = fit(canvas);
  if (rates.length === 0) return;
  const max = Math.max(...rates, 1);
  ctx.strokeStyle = PALETTE[0];
  ctx.lineWidth = 2;
  ctx.beginPath();
  const points = rates.length === 1 ? [rates[0], rates[0]] : rates;
  const step = width / (points.length - 1);
  points.forEach((r, i) => {
    const y = height - 4 - (r / max) * (height - 20);
    if (i === 0) ctx.moveTo(0, y);
    else ctx.lineTo(i * step, y);
  });
  ctx.stroke();
  ctx.fillStyle = getComputedStyle(canvas).color;
  ctx.font = "11px sans-serif";
  ctx.fillText(`peak ${bytes(max)}/s · ${duration(rates.length * ticksPerSample)} of history`, 4, 12);
}

function render() {
  const s = state;
  renderHeader(s);
  renderGroups(s);
  renderDownloads(s);
  if (window.__firstRenderMs === undefined) {
    window.__firstRenderMs = performance.now();
    document.body.dataset.ready = "true";
  }
}

function connect() {
  if (source) source.close();
  source = new EventSource(`/api/events?open=${encodeURIComponent([...open].join(","))}`);
  source.addEventListener("state", (e) => {
    state = JSON.parse(e.data);
    render();
  });
  source.onopen = () => {
    $("live").textContent = "live";
  };
  source.onerror = () => {
    // A refused stream (the client restarted: its sessions are new) is not retried by the browser.
    $("live").textContent =
      source.readyState === EventSource.CLOSED
        ? "disconnected: open the link the client printed again"
        : "connection lost: reconnecting…";
  };
}

/** Asks the client for paths starting with what is typed, into the field's datalist. */
function completion(input, list) {
  let timer;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const r = await fetch(`/api/complete?path=${encodeURIComponent(input.value)}`);
      if (!r.ok) return;
      const { entries } = await r.json();
      list.replaceChildren(...entries.map((p) => h("option", { value: p })));
    }, 150);
  });
}

for (const form of document.querySelectorAll("form[data-command]")) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const values = [...form.querySelectorAll("input")].map((i) => i.value.trim());
    const outcome = await run(
      form.dataset.command,
      values,
      form.dataset.command === "login" ? `login ${values[0]}` : undefined,
    );
    if (outcome.ok)
      for (const i of form.querySelectorAll("input"))
        if (i.type === "password" || form.id !== "login-form") i.value = "";
  });
}
$("create-user").addEventListener("click", () => {
  const f = $("login-form").elements;
  run("create_user", [f.user.value.trim(), f.pass.value], `create_user ${f.user.value.trim()}`);
});
$("logout").addEventListener("click", () => run("logout", []));
completion($("share-form").elements.path, $("path-options"));
completion($("download-form").elements.dest, $("dest-options"));
connect();
