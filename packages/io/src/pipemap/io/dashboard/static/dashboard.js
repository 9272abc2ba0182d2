// pipemap dashboard: polls /api/state, draws the grid of the chosen output, lists failures.
// No build step, no dependencies. The page works without it (counts are rendered on the server).
"use strict";

const COLORS = {0: [60, 154, 95], 1: [214, 39, 40], 2: [255, 159, 28], 3: [217, 217, 217], 4: [158, 202, 225]};
const NAMES = ["done", "failed", "skipped", "missing", "partly done"];
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const POLL_MS = 1500;
let state = JSON.parse(document.getElementById("initial-state").textContent);
let shown = {key: null, version: null};
let failuresSeen = null;

function $(id) { return document.getElementById(id); }
function fmt(v) { return v === null || v === undefined ? "n/a" : String(v); }
function fmtRate(r) { return r === null || r === undefined ? "-" : (r >= 10 ? r.toFixed(0) : r.toFixed(2)) + "/s"; }
function fmtEta(s) {
  if (s === null || s === undefined) return "-";
  if (s < 90) return Math.round(s) + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}

function updateCounts(snap) {
  $("error").textContent = snap.error || "";
  $("error").hidden = !snap.error;
  const damaged = snap.damaged || [];
  $("damaged").hidden = damaged.length === 0;
  $("damaged").textContent = damaged.length ? "damaged: " + damaged.join("; ") : "";
  $("running").textContent = snap.running ? "running" : "not running";
  $("running").className = snap.running ? "pill live" : "pill";
  $("updated").textContent = new Date(snap.time * 1000).toLocaleTimeString();
  for (const o of snap.outputs || []) {
    const row = document.querySelector(`tr[data-output="${CSS.escape(o.name)}"]`);
    if (!row) { location.reload(); return; }  // new outputs: the run record changed
    for (const key of ["done", "failed", "missing", "reused", "total"]) {
      const cell = row.querySelector(`td.${key}`);
      if (cell) cell.textContent = fmt(o[key]);
    }
    row.querySelector("td.rate").textContent = fmtRate(o.rate);
    row.querySelector("td.eta").textContent = fmtEta(o.eta);
    row.querySelector("td.note").textContent = o.note || "";
    const bar = row.querySelector(".bar");
    if (bar && o.total) {
      bar.querySelector(".ok").style.width = (100 * (o.done || 0) / o.total) + "%";
      bar.querySelector(".bad").style.width = (100 * (o.failed || 0) / o.total) + "%";
    }
  }
}

function selectedOutput() {
  const sel = $("grid-output");
  return sel ? state.outputs.find(o => o.name === sel.value) : null;
}

function axisControls() {
  const o = selectedOutput();
  const box = $("axis-controls");
  box.innerHTML = "";
  if (!o) return;
  const axes = o.axes;
  const mk = (label, id, options, value) => {
    const l = document.createElement("label");
    l.textContent = label + " ";
    const s = document.createElement("select");
    s.id = id;
    for (const [v, t] of options) { const op = document.createElement("option"); op.value = v; op.textContent = t; s.appendChild(op); }
    s.value = value;
    s.onchange = () => { if (id === "grid-x" || id === "grid-y") axisControls(); else refreshGrid(true); };
    l.appendChild(s);
    box.appendChild(l);
    return s;
  };
  const prevX = box.dataset.x, prevY = box.dataset.y === undefined ? null : box.dataset.y;
  const x = axes.includes(prevX) ? prevX : (axes.length > 1 ? axes[1] : axes[0]);
  mk("across", "grid-x", axes.map(a => [a, a]), x);
  if (axes.length > 1) {
    const ys = axes.filter(a => a !== x);
    const down = ys.map(a => [a, a]).concat([["", "none (1-D)"]]);
    mk("down", "grid-y", down, ys.includes(prevY) || prevY === "" ? prevY : ys[0]);
  }
  box.dataset.x = $("grid-x").value;
  box.dataset.y = $("grid-y") ? $("grid-y").value : "";
  axes.forEach((a, k) => {
    if (a === box.dataset.x || a === box.dataset.y) return;
    const opts = [["all", "all (worst state)"]];
    for (let i = 0; i < Math.min(o.shape[k], 1000); i++) opts.push([String(i), String(i)]);
    const s = mk(a + " =", "fix-" + a, opts, "all");
    s.dataset.axis = a;
  });
  $("grid-x").onchange = () => { box.dataset.x = $("grid-x").value; axisControls(); };
  if ($("grid-y")) $("grid-y").onchange = () => { box.dataset.y = $("grid-y").value; axisControls(); };
  refreshGrid(true);
}

function gridQuery() {
  const o = selectedOutput();
  const q = new URLSearchParams({output: o.name, mode: $("grid-mode").value, x: $("grid-x").value});
  if ($("grid-y")) q.set("y", $("grid-y").value);
  document.querySelectorAll("#axis-controls select[data-axis]").forEach(s => q.set("fix." + s.dataset.axis, s.value));
  return q.toString();
}

async function refreshGrid(force) {
  const o = selectedOutput();
  if (!o || !o.axes.length || !o.total) { $("grid-info").textContent = o ? (o.note || "nothing to draw yet") : ""; return; }
  const key = gridQuery();
  if (!force && shown.key === key && shown.version === o.version && $("grid-mode").value === "state") return;
  const resp = await fetch("api/grid?" + key);
  const grid = await resp.json();
  if (!resp.ok) { $("grid-info").textContent = grid.error; return; }
  shown = {key: key, version: o.version};
  if (grid.values && grid.ny === 1) drawLine(grid); else drawCanvas(grid);
}

function scaleFor(grid) {
  return Math.max(1, Math.min(Math.floor(800 / grid.nx), Math.floor(480 / grid.ny), 24));
}

function drawCanvas(grid) {
  const canvas = $("heatmap");
  $("lineplot").style.display = "none";  // an <svg> has no `hidden` property: use its style
  canvas.hidden = false;
  document.querySelector(".legend").style.visibility = grid.values ? "hidden" : "visible";
  const s = scaleFor(grid);
  canvas.width = grid.nx * s;
  canvas.height = grid.ny * s;
  Object.assign(canvas.dataset, {nx: grid.nx, ny: grid.ny, scale: s, bx: grid.bx, by: grid.by, x: grid.x, y: grid.y || ""});
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(canvas.width, canvas.height);
  const span = grid.values ? (grid.vmax - grid.vmin) || 1 : 1;
  for (let r = 0; r < grid.ny; r++) {
    for (let c = 0; c < grid.nx; c++) {
      let rgb;
      if (grid.values) {
        const v = grid.values[r * grid.nx + c];
        rgb = v === null ? [255, 255, 255] : colormap((v - grid.vmin) / span);
      } else {
        rgb = COLORS[grid.codes.charCodeAt(r * grid.nx + c) - 48];
      }
      for (let dy = 0; dy < s; dy++) {
        let p = ((r * s + dy) * canvas.width + c * s) * 4;
        for (let dx = 0; dx < s; dx++, p += 4) { img.data[p] = rgb[0]; img.data[p + 1] = rgb[1]; img.data[p + 2] = rgb[2]; img.data[p + 3] = 255; }
      }
    }
  }
  ctx.putImageData(img, 0, 0);
  canvas.onmousemove = (ev) => {  // tooltip: which element(s) the cell is
    const c = Math.floor(ev.offsetX / s), r = Math.floor(ev.offsetY / s);
    if (c >= grid.nx || r >= grid.ny) return;
    const span = (n, b) => b > 1 ? `${n * b}..${n * b + b - 1}` : String(n);
    const k = r * grid.nx + c;
    const what = grid.values ? fmtNum(grid.values[k]) : NAMES[grid.codes.charCodeAt(k) - 48];
    canvas.title = (grid.y ? `${grid.y}=${span(r, grid.by)}, ` : "") + `${grid.x}=${span(c, grid.bx)}: ${what}`;
  };
  const blocks = grid.bx > 1 || grid.by > 1 ? ` (each cell: ${grid.by} x ${grid.bx} elements)` : "";
  const range = grid.values ? `; values ${fmtNum(grid.vmin)} (dark) .. ${fmtNum(grid.vmax)} (yellow)` : "";
  $("grid-info").textContent = `across: ${grid.x} (${grid.nx})` + (grid.y ? `, down: ${grid.y} (${grid.ny})` : "") + blocks + range;
}

function fmtNum(v) { return v === null ? "-" : Number(v).toPrecision(4); }

function colormap(t) {
  t = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
  const k = Math.min(Math.floor(t), VIRIDIS.length - 2), f = t - k;
  return VIRIDIS[k].map((a, i) => Math.round(a + f * (VIRIDIS[k + 1][i] - a)));
}

function drawLine(grid) {
  $("heatmap").hidden = true;
  const svg = $("lineplot");
  svg.removeAttribute("hidden");
  svg.style.display = "block";
  document.querySelector(".legend").style.visibility = "hidden";
  const w = 800, h = 300, pad = 40;
  const span = (grid.vmax - grid.vmin) || 1;
  const pts = [];
  grid.values.forEach((v, i) => {
    if (v === null) return;
    const x = pad + (w - 2 * pad) * (grid.nx > 1 ? i / (grid.nx - 1) : 0.5);
    const y = h - pad - (h - 2 * pad) * (v - grid.vmin) / span;
    pts.push(x.toFixed(1) + "," + y.toFixed(1));
  });
  svg.innerHTML = `<rect x="${pad}" y="${pad}" width="${w - 2 * pad}" height="${h - 2 * pad}" class="frame"/>` +
    `<polyline points="${pts.join(" ")}" class="line"/>` +
    `<text x="${pad}" y="${pad - 8}">${fmtNum(grid.vmax)}</text><text x="${pad}" y="${h - pad + 16}">${fmtNum(grid.vmin)}</text>` +
    `<text x="${w - pad}" y="${h - pad + 16}" text-anchor="end">${grid.x} (${grid.nx})</text>`;
  $("grid-info").textContent = `values along ${grid.x}`;
}

async function refreshFailures(force) {
  const total = (state.outputs || []).reduce((n, o) => n + (o.failed || 0), 0);
  if (!force && total === failuresSeen) return;
  failuresSeen = total;
  const rows = await (await fetch("api/failures")).json();
  const body = $("failures").querySelector("tbody");
  body.innerHTML = "";
  $("failures-empty").hidden = rows.length > 0;
  $("failures").hidden = rows.length === 0;
  for (const r of rows) {
    const tr = document.createElement("tr");
    tr.className = "failure" + (r.skipped ? " skipped" : "");
    const where = r.index === null ? r.output : `${r.output}[${r.index.join(", ")}]`;
    const inputs = Object.entries(r.inputs).map(([k, v]) => `${k}=${v}`).join(", ");
    for (const text of [where, r.function, inputs, r.skipped ? "skipped" : r.type, r.message, fmt(r.attempts)]) {
      const td = document.createElement("td"); td.textContent = text; tr.appendChild(td);
    }
    const tb = document.createElement("tr");
    tb.className = "traceback"; tb.hidden = true;
    const td = document.createElement("td"); td.colSpan = 6;
    const pre = document.createElement("pre"); pre.textContent = r.traceback || "(no traceback recorded)";
    td.appendChild(pre); tb.appendChild(td);
    tr.onclick = () => { tb.hidden = !tb.hidden; };
    body.appendChild(tr); body.appendChild(tb);
  }
}

async function poll() {
  try {
    const resp = await fetch("api/state");
    state = await resp.json();
    updateCounts(state);
    await refreshFailures(false);
    await refreshGrid(false);
    document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
  } catch (err) {
    $("error").hidden = false;
    $("error").textContent = "the dashboard server does not answer (" + err + ")";
  }
  setTimeout(poll, POLL_MS);
}

window.addEventListener("load", () => {
  if ($("grid-output")) {
    $("grid-output").onchange = () => { $("axis-controls").dataset.x = ""; delete $("axis-controls").dataset.y; axisControls(); };
    $("grid-mode").onchange = () => refreshGrid(true);
    axisControls();
  }
  refreshFailures(true);
  setTimeout(poll, POLL_MS);
});
