// pipetune dashboard: renders the pages from the JSON API under /api. No framework, no build
// step, nothing from the network: plotly.js is served by this same server.
"use strict";

const main = () => document.getElementById("main");
const POLL_MS = 1500;
let timers = [];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function num(value) {
  if (value === null || value === undefined) return "-";
  if (typeof value !== "number") return typeof value === "object" ? JSON.stringify(value) : String(value);
  if (Number.isInteger(value)) return String(value);
  return Number(value.toPrecision(6)).toString();
}
function when(stamp) {
  if (!stamp) return "-";
  const d = new Date(stamp * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
function dur(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60), s = Math.floor(seconds % 60);
  if (m < 60) return `${m}m${String(s).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}
const status = (text) => el("span", { class: `status ${text}` }, text);
// "local" (a state directory) or "kubernetes" (a cluster namespace): pages say what they read.
const onCluster = () => document.body.dataset.engine === "kubernetes";
const readsWhat = () => (onCluster() ? `this dashboard's ${document.body.dataset.where}` : "this state directory");
const inline = (values) => Object.entries(values || {}).map(([k, v]) => `${k}=${num(v)}`).join(" ");
const runLink = (id) => el("a", { href: `/runs/${encodeURIComponent(id)}`, class: "mono" }, id);

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}
const etags = new Map();
// GET a JSON endpoint; with `changed`, null when the body is what the last call returned.
async function api(path, changed) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  const text = await response.text();
  let data;
  try { data = JSON.parse(text); } catch (e) { throw new ApiError(response.status, text.slice(0, 200)); }
  if (!response.ok) throw new ApiError(response.status, data.error || response.statusText);
  if (changed) {
    const tag = response.headers.get("ETag");
    if (tag && etags.get(path) === tag) return null;
    etags.set(path, tag);
  }
  return data;
}
function every(ms, fn) {
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    try { await fn(); } catch (e) { showError(e); }
    if (!stopped) timers.push(setTimeout(tick, ms));
  };
  timers.push({ stop: () => { stopped = true; } });
  return tick();
}
function showError(error, where) {
  const box = where || document.getElementById("error");
  if (!box) return;
  box.hidden = !error;
  box.textContent = error ? error.message : "";
}
// plotly.js (4.8 MB) loads on its own: the page fetches its data and fills its tables while the
// browser compiles it off the main thread; a chart waits for it.
const plotly = new Promise((resolve, reject) => {
  const script = document.createElement("script");
  script.src = "/static/plotly.min.js";
  script.async = true;
  script.onload = resolve;
  script.onerror = () => reject(new Error("plotly.js did not load from this server"));
  document.head.append(script);
});
async function draw(id, figure) {
  await plotly;
  const node = document.getElementById(id);
  if (!node || !window.Plotly) return;
  try {
    Plotly.react(node, figure.data, { ...figure.layout, autosize: true }, { responsive: true, displaylogo: false });
  } catch (e) {
    node.textContent = `this view could not be drawn here (${e.message})`;
  }
}

// -- pages --------------------------------------------------------------------------------

function notFound() {
  document.title = "not found - pipetune";
  main().replaceChildren(el("div", { class: "notfound", id: "not-found" },
    el("h1", {}, "404"),
    el("p", {}, `Not found: nothing in ${readsWhat()} is at `, el("span", { class: "mono" }, location.pathname), "."),
    el("p", {}, el("a", { href: "/experiments" }, "Experiments"), " · ", el("a", { href: "/runs" }, "Runs"))));
}

async function experimentsPage() {
  document.title = "experiments - pipetune";
  const body = el("tbody", { id: "experiments-body" });
  main().replaceChildren(
    el("h1", {}, "Experiments"), el("div", { id: "error", class: "error", hidden: true }),
    el("table", { id: "experiments" }, el("thead", {}, el("tr", {},
      ...["Name", "Status", "Progress", "Best objective", "Algorithm", "Started", "Duration"].map((h) => el("th", {}, h)))), body),
    el("p", { class: "muted", id: "experiments-empty", hidden: true }, onCluster()
      ? "No tuning CustomRuns or Experiments in this namespace (pipetune's controller runs them)."
      : "No experiments recorded yet: `pipetune tune EXPERIMENT.yaml` runs one."));
  await every(3000, async () => {
    const data = await api("/api/experiments", true);
    if (!data) return;
    document.getElementById("experiments-empty").hidden = data.experiments.length > 0;
    body.replaceChildren(...data.experiments.map((x) => {
      const share = x.trials ? Math.round((100 * x.done) / x.trials) : 0;
      return el("tr", { dataset: { id: x.id } },
        el("td", {}, el("a", { href: `/experiments/${encodeURIComponent(x.id)}` }, x.name)),
        el("td", {}, status(x.status)),
        el("td", {}, el("span", { class: "progress" }, el("span", { style: `width:${share}%` })),
          `${x.done}/${x.trials} done` + (x.counts.Running ? `, ${x.counts.Running} running` : "")),
        el("td", { class: "best" }, x.best ? `${x.metric} ${num(x.best.objective)} (trial ${x.best.index})` : "-"),
        el("td", {}, x.algorithm || "-"), el("td", {}, when(x.started)), el("td", {}, dur(x.duration)));
    }));
  });
}

const VIEWS = [["history", "Optimisation history"], ["intermediate", "Intermediate values"], ["parallel", "Parallel coordinates"],
  ["importance", "Parameter importance"], ["slice", "Slice"], ["contour", "Contour"]];

async function experimentPage(id) {
  const state = { sort: "index", descending: false, filter: "", status: "", selected: null, data: null };
  const filter = el("input", { id: "trial-filter", type: "search", placeholder: "parameter, status, reason…" });
  const statusSelect = el("select", { id: "trial-status" }, el("option", { value: "" }, "any"),
    ...["Succeeded", "Running", "Pending", "Failed", "EarlyStopped", "MetricsUnavailable", "Killed"].map((s) => el("option", { value: s }, s)));
  main().replaceChildren(
    el("h1", { id: "experiment-name" }, "experiment"),
    el("div", { id: "error", class: "error", hidden: true }),
    el("div", { class: "cards", id: "summary" }),
    el("div", { class: "grid" }, ...VIEWS.map(([name]) => el("div", { class: "figure", id: `fig-${name}`, dataset: { view: name } }))),
    el("h2", {}, "Trials"),
    el("div", { class: "filters" }, el("label", {}, "filter", filter), el("label", {}, "status", statusSelect),
      el("span", { class: "muted", id: "trial-count" })),
    el("table", { id: "trials" }, el("thead", {}), el("tbody", {})),
    el("div", { id: "trial-detail" }));
  filter.addEventListener("input", () => { state.filter = filter.value.toLowerCase(); renderTrials(state); });
  statusSelect.addEventListener("change", () => { state.status = statusSelect.value; renderTrials(state); });
  const url = `/api/experiments/${encodeURIComponent(id)}`;
  await every(POLL_MS, async () => {
    // The intermediate values come on their own (a running trial's change only them; reading
    // every trial's results is the slow part), after the other views.
    const data = await api(url, true);
    api(`${url}/intermediate`, true).then((more) => { if (more) draw("fig-intermediate", more.figure); }).catch(showError);
    if (!data) return;
    state.data = data;
    const x = data.experiment;
    document.title = `${x.name} - pipetune`;
    document.getElementById("experiment-name").replaceChildren(`Experiment ${x.name} `, status(x.status));
    const best = x.best;
    document.getElementById("summary").replaceChildren(...[
      card("Best " + (x.metric || "objective"), best ? num(best.objective) : "-", "best-value"),
      card("Best trial", best ? String(best.index) : "-", "best-trial"),
      card("Trials", `${x.done}/${x.trials} done` + (x.counts.Running ? `, ${x.counts.Running} running` : ""), "progress"),
      card("Goal", x.minimize ? "minimise" : "maximise"), card("Algorithm", x.algorithm || "-"),
      card("Started", when(x.started)), card("Duration", dur(x.duration)),
      x.resource ? card("Resource", x.resource, "resource") : null,
      best ? el("div", { class: "card" }, el("div", { class: "label" }, "Best parameters"), el("div", { class: "mono", id: "best-parameters" }, inline(best.parameters))) : null,
      x.message ? el("div", { class: "card" }, el("div", { class: "label" }, x.reason || "message"), el("div", {}, x.message)) : null,
    ].filter(Boolean));
    // One view per task, the history first, then the table: the page shows something before
    // every view is drawn.
    let first = true;
    for (const [name] of VIEWS) {
      if (!data.figures || !data.figures[name]) continue;
      await draw(`fig-${name}`, data.figures[name]);
      if (first) renderTrials(state);
      first = false;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    if (first) renderTrials(state);
  });
}

function card(label, value, id) {
  return el("div", { class: "card" }, el("div", { class: "label" }, label), el("div", { class: "value", id }, value));
}

function renderTrials(state) {
  const data = state.data;
  if (!data) return;
  const x = data.experiment;
  const names = x.parameters.length ? x.parameters : [...new Set(data.trials.flatMap((t) => Object.keys(t.parameters)))];
  const columns = [["index", "Trial"], ["status", "Status"], ...names.map((n) => [`p:${n}`, n]), ["objective", x.metric || "objective"],
    ["duration", "Duration"], ["reason", "Reason"]];
  const value = (t, key) => key.startsWith("p:") ? t.parameters[key.slice(2)] : t[key];
  let rows = data.trials.filter((t) => (!state.status || t.status === state.status) &&
    (!state.filter || JSON.stringify([t.index, t.status, t.parameters, t.reason, t.message]).toLowerCase().includes(state.filter)));
  rows.sort((a, b) => {
    const va = value(a, state.sort), vb = value(b, state.sort);
    if (va === vb) return a.index - b.index;
    if (va === null || va === undefined) return 1;
    if (vb === null || vb === undefined) return -1;
    const order = typeof va === "number" && typeof vb === "number" ? va - vb : String(va).localeCompare(String(vb));
    return state.descending ? -order : order;
  });
  const table = document.getElementById("trials");
  table.tHead.replaceChildren(el("tr", {}, ...columns.map(([key, label]) => el("th", {
    class: "sortable" + (state.sort === key ? (state.descending ? " sorted-desc" : " sorted-asc") : ""), dataset: { key },
    onclick: () => { state.descending = state.sort === key ? !state.descending : false; state.sort = key; renderTrials(state); },
  }, label))));
  const best = x.best ? x.best.index : null;
  table.tBodies[0].replaceChildren(...rows.map((t) => el("tr", {
    class: "clickable" + (t.index === best ? " best" : "") + (t.index === state.selected ? " selected" : ""),
    dataset: { trial: t.index }, onclick: () => { state.selected = t.index; renderTrials(state); trialDetail(t, x); },
  }, el("td", { class: "num" }, (t.index === best ? "★ " : "") + t.index), el("td", {}, status(t.status)),
    ...names.map((n) => el("td", { class: "num" }, num(t.parameters[n]))),
    el("td", { class: "num objective" }, num(t.objective)), el("td", {}, dur(t.duration)), el("td", {}, t.reason || ""))));
  document.getElementById("trial-count").textContent = `${rows.length} of ${data.trials.length} trials`;
}

async function trialDetail(trial, experiment) {
  const box = document.getElementById("trial-detail");
  const parts = [el("h2", {}, `Trial ${trial.index} `, status(trial.status)),
    kv([["parameters", inline(trial.parameters)], ["metrics", inline(trial.metrics)], [experiment.metric || "objective", num(trial.objective)],
      ["attempts", trial.attempts], ["reason", trial.reason || "-"], ["message", trial.message || "-"],
      ["run", trial.run_id ? runLink(trial.run_id) : "-"]])];
  box.replaceChildren(...parts);
  if (!trial.run_id) return;
  try {
    const run = await api(`/api/runs/${encodeURIComponent(trial.run_id)}`);
    box.append(el("div", { class: "panel" }, el("b", {}, "Logs: "), ...run.logs.map((f) => el("span", {}, " ",
      el("a", { href: logUrl(trial.run_id, f.path, { tail: 200 }), target: "_blank" }, f.path), " (",
      el("a", { href: logUrl(trial.run_id, f.path, { download: 1 }) }, "download"), ")")),
    el("br"), el("b", {}, "Artifacts: "), run.files.length ? run.files.map((f) => el("span", { class: "artifact" }, " ",
      f.note ? el("span", { title: f.note }, f.path) : el("a", { href: fileUrl(trial.run_id, f.path) }, f.path),
      f.uri ? el("span", { class: "mono muted" }, ` ${f.uri}`) : "")) : run.files_note || "none"));
  } catch (e) { box.append(el("div", { class: "error" }, e.message)); }
}

function kv(pairs) {
  return el("dl", { class: "kv" }, ...pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}
const pathUrl = (path) => path.split("/").map(encodeURIComponent).join("/");
const logUrl = (id, path, query) => `/api/runs/${encodeURIComponent(id)}/logs/${pathUrl(path)}?` + new URLSearchParams(query);
const fileUrl = (id, path) => `/api/runs/${encodeURIComponent(id)}/files/${pathUrl(path)}`;

const RUN_FILTERS = [["status", "status"], ["component", "component"], ["experiment", "experiment"], ["parent", "pipeline / parent run"],
  ["since", "since (2h, 7d, 2026-12-01)"], ["q", "search"]];

async function runsPage() {
  document.title = "runs - pipetune";
  const params = new URLSearchParams(location.search);
  const inputs = {};
  const form = el("form", { class: "filters", id: "run-filters", onsubmit: (e) => e.preventDefault() },
    ...RUN_FILTERS.map(([name, label]) => {
      const input = name === "status"
        ? el("select", { name }, el("option", { value: "" }, "any"), ...["Pending", "Running", "Succeeded", "Failed", "Cancelled"].map((s) => el("option", { value: s }, s)))
        : el("input", { name, type: name === "q" ? "search" : "text" });
      input.value = params.get(name) || "";
      inputs[name] = input;
      return el("label", {}, label, input);
    }),
    el("label", {}, "top level only", inputs.top = el("input", { type: "checkbox", name: "top" })),
    el("button", { type: "button", id: "compare", disabled: true, onclick: () => {
      location.href = "/compare?ids=" + [...document.querySelectorAll("#runs input.pick:checked")].map((c) => c.value).join(",");
    } }, "Compare selected"));
  inputs.top.checked = params.get("top") === "1";
  const body = el("tbody", {});
  main().replaceChildren(el("h1", {}, "Runs"), form, el("div", { id: "error", class: "error", hidden: true }),
    el("table", { id: "runs" }, el("thead", {}, el("tr", {}, ...["", "Run", "Component", "Status", "Started", "Duration", "Metrics", "Parameters"].map((h) => el("th", {}, h)))), body),
    el("p", { class: "muted", id: "runs-count" }));
  let generation = 0;
  const load = async () => {
    const query = new URLSearchParams();
    for (const [name, input] of Object.entries(inputs)) {
      if (name === "top") { if (input.checked) query.set("top", "1"); } else if (input.value.trim()) query.set(name, input.value.trim());
    }
    history.replaceState(null, "", "/runs" + (query.toString() ? "?" + query : ""));
    const mine = ++generation;
    let data;
    try { data = await api("/api/runs?" + query); showError(null); } catch (e) { showError(e); body.replaceChildren(); return; }
    if (mine !== generation) return;
    body.replaceChildren(...data.runs.map((r) => el("tr", { dataset: { id: r.id } },
      el("td", {}, el("input", { type: "checkbox", class: "pick", value: r.id, onchange: pickChanged })),
      el("td", {}, runLink(r.id)),
      el("td", {}, r.trial ? `trial ${r.trial.index} (${r.component})` : r.kind === "experiment"
        ? el("a", { href: `/experiments/${encodeURIComponent(r.id)}` }, r.component)
        : r.kind === "pipeline" ? el("a", { href: `/pipelines/${encodeURIComponent(r.id)}` }, r.component) : r.component),
      el("td", {}, status(r.status)), el("td", {}, when(r.started_at || r.created_at)), el("td", {}, dur(r.duration)),
      el("td", { class: "mono" }, inline(r.metrics)), el("td", { class: "mono" }, inline(r.trial ? r.trial.parameters : r.parameters)))));
    document.getElementById("runs-count").textContent = `${data.runs.length} run(s)` + (data.more ? " shown; narrow the filters for the rest" : "");
  };
  let pending;
  for (const input of Object.values(inputs)) input.addEventListener(input.type === "checkbox" || input.tagName === "SELECT" ? "change" : "input", () => {
    clearTimeout(pending); pending = setTimeout(load, 250);
  });
  await load();
}
function pickChanged() {
  document.getElementById("compare").disabled = document.querySelectorAll("#runs input.pick:checked").length < 2;
}

async function runPage(id) {
  const url = `/api/runs/${encodeURIComponent(id)}`;
  main().replaceChildren(el("h1", { id: "run-title" }, `Run ${id}`), el("div", { id: "error", class: "error", hidden: true }),
    el("div", { id: "run-summary" }), el("h2", {}, "History"), el("div", { class: "figure", id: "fig-run-history" }),
    el("h2", {}, "Logs"), el("div", { id: "run-logs" }), el("h2", {}, "Outputs"), el("div", { id: "run-files" }),
    el("div", { id: "run-children" }));
  let logName = null;
  let first = true;
  await every(2000, async () => {
    const data = await api(url, true);
    if (!data) return;
    const r = data.run;
    document.title = `run ${r.id} - pipetune`;
    document.getElementById("run-title").replaceChildren(`Run ${r.id} `, status(r.status));
    const links = [];
    if (r.kind === "experiment") links.push(el("a", { href: `/experiments/${encodeURIComponent(r.id)}` }, "experiment page"));
    if (r.kind === "pipeline") links.push(el("a", { href: `/pipelines/${encodeURIComponent(r.id)}` }, "pipeline DAG"));
    if (data.experiment) links.push(el("a", { href: `/experiments/${encodeURIComponent(data.experiment)}` }, `experiment (trial ${r.trial.index})`));
    document.getElementById("run-summary").replaceChildren(kv([
      ["component", r.component], ["engine", r.engine], ["status", [status(r.status), r.reason ? ` ${r.reason}` : ""]],
      ["message", r.message || "-"], ["parent", r.parent_id ? runLink(r.parent_id) : "-"], ["links", links.length ? links.flatMap((l) => [l, " "]) : "-"],
      ["started", when(r.started_at)], ["finished", when(r.finished_at)], ["duration", dur(r.duration)], ["exit code", r.exit_code ?? "-"],
      ["parameters", el("span", { class: "mono", id: "run-parameters" }, inline(r.trial ? r.trial.parameters : r.parameters) || "-")],
      ["metrics", el("span", { class: "mono", id: "run-metrics" }, inline(r.metrics) || "-")],
      ["outputs", el("span", { class: "mono", id: "run-outputs" }, inline(r.outputs || (data.results || {}).outputs) || "-")], ["outputs dir", el("span", { class: "mono" }, r.outputs_dir || "-")]]));
    const metrics = [...new Set(data.history.flatMap((h) => Object.keys(h).filter((k) => k !== "step")))];
    draw("fig-run-history", { data: metrics.map((m) => ({ type: "scatter", mode: "lines+markers", name: m,
      x: data.history.map((h, i) => h.step ?? i), y: data.history.map((h) => h[m] ?? null) })),
      layout: { title: { text: data.history.length ? "reported values by step" : "no intermediate values reported", font: { size: 14 } },
        xaxis: { title: { text: "step" } }, margin: { l: 60, r: 20, t: 40, b: 40 } } });
    if (first || data.logs.length) {
      logName = logName || (data.logs.find((f) => f.path.endsWith("stdout.log")) || data.logs[0] || {}).path || null;
      await showLog(r.id, data.logs, logName, (name) => { logName = name; });
    }
    first = false;
    // On a cluster the files are the artifacts the trial's results name: their URIs, and why
    // one is not read here (a path in the pod, a scheme with no filesystem where this runs).
    const uris = data.files.some((f) => f.uri);
    document.getElementById("run-files").replaceChildren(data.files.length ? el("table", { id: "files" },
      el("thead", {}, el("tr", {}, el("th", {}, uris ? "artifact" : "file"), ...(uris ? [el("th", {}, "URI"), el("th", {}, "read here")] : [el("th", {}, "size")]))),
      el("tbody", {}, ...data.files.map((f) => el("tr", {},
        el("td", {}, f.note ? f.path : el("a", { href: fileUrl(r.id, f.path) }, f.path)),
        ...(uris ? [el("td", { class: "mono" }, f.uri || "-"), el("td", { class: f.note ? "muted" : "" }, f.note || "yes (download)")]
          : [el("td", { class: "num" }, f.size)])))))
      : el("p", { class: "muted", id: "files-note" }, data.files_note || "no output files"));
    document.getElementById("run-children").replaceChildren(...(data.children.length ? [el("h2", {}, "Child runs"), el("table", {},
      el("tbody", {}, ...data.children.map((c) => el("tr", {}, el("td", {}, runLink(c.id)), el("td", {}, c.trial ? `trial ${c.trial.index}` : c.component),
        el("td", {}, status(c.status)), el("td", {}, dur(c.duration)), el("td", { class: "mono" }, inline(c.metrics))))))] : []));
  });
}

async function showLog(id, logs, name, choose) {
  const box = document.getElementById("run-logs");
  if (!logs.length) { box.replaceChildren(el("p", { class: "muted" }, "no logs")); return; }
  const select = el("select", { id: "log-name", onchange: () => { choose(select.value); showLog(id, logs, select.value, choose); } },
    ...logs.map((f) => el("option", { value: f.path, selected: f.path === name }, f.size === null || f.size === undefined ? f.path : `${f.path} (${f.size} B)`)));
  let text;
  try { text = await (await fetch(logUrl(id, name, { tail: 200 }))).text(); } catch (e) { text = e.message; }
  box.replaceChildren(el("div", { class: "filters" }, el("label", {}, "log", select),
    el("a", { href: logUrl(id, name, { download: 1 }), id: "log-download" }, "download whole log"),
    el("span", { class: "muted" }, "last 200 lines")), el("pre", { class: "log", id: "log-text" }, text || "(empty)"));
}

async function comparePage() {
  document.title = "compare - pipetune";
  const ids = new URLSearchParams(location.search).get("ids") || "";
  main().replaceChildren(el("h1", {}, "Compare runs"), el("div", { id: "error", class: "error", hidden: true }));
  let data;
  try { data = await api("/api/compare?ids=" + encodeURIComponent(ids)); } catch (e) { showError(e); return; }
  const head = el("tr", {}, el("th", {}, ""), ...data.runs.map((r) => el("th", {}, runLink(r.id), el("br"), r.trial ? `trial ${r.trial.index}` : r.component, " ", status(r.status))));
  const rows = (title, table) => [el("tr", {}, el("th", { colspan: data.runs.length + 1 }, title)),
    ...table.map((row) => el("tr", { class: row.differs ? "differs" : "" }, el("td", {}, row.name), ...row.values.map((v) => el("td", { class: "num" }, num(v)))))];
  const metrics = [...new Set(Object.values(data.histories).flatMap((h) => h.flatMap((e) => Object.keys(e).filter((k) => k !== "step"))))];
  const select = el("select", { id: "compare-metric" }, ...metrics.map((m) => el("option", { value: m }, m)));
  main().append(el("p", { class: "muted" }, "Rows that differ are highlighted."),
    el("table", { id: "compare-table" }, el("thead", {}, head), el("tbody", {}, ...rows("parameters", data.parameters), ...rows("metrics", data.metrics))),
    el("h2", {}, "History overlaid"), metrics.length ? el("div", { class: "filters" }, el("label", {}, "metric", select)) : el("p", { class: "muted" }, "no intermediate values reported"),
    el("div", { class: "figure", id: "fig-compare" }));
  const overlay = () => draw("fig-compare", { data: data.runs.map((r) => ({ type: "scatter", mode: "lines+markers", name: r.trial ? `trial ${r.trial.index}` : r.id,
    x: data.histories[r.id].map((h, i) => h.step ?? i), y: data.histories[r.id].map((h) => h[select.value] ?? null) })),
    layout: { title: { text: select.value || "", font: { size: 14 } }, xaxis: { title: { text: "step" } }, margin: { l: 60, r: 20, t: 40, b: 40 } } });
  select.addEventListener("change", overlay);
  if (metrics.length) overlay();
}

const STATUS_FILL = { Succeeded: "#d3f9d8", Failed: "#ffe3e3", Running: "#d0ebff", Pending: "#fff3bf", Cancelled: "#e9ecef" };

async function pipelinePage(id) {
  main().replaceChildren(el("h1", { id: "pipeline-title" }, `Pipeline run ${id}`), el("div", { id: "error", class: "error", hidden: true }),
    el("div", { id: "pipeline-summary" }), el("div", { class: "panel", id: "dag" }), el("div", { id: "pipeline-tasks" }));
  await every(2000, async () => {
    const data = await api(`/api/pipelines/${encodeURIComponent(id)}`, true);
    if (!data) return;
    const r = data.run;
    document.title = `${r.component} - pipetune`;
    document.getElementById("pipeline-title").replaceChildren(`${r.component} `, status(r.status));
    document.getElementById("pipeline-summary").replaceChildren(kv([["run", runLink(r.id)], ["started", when(r.started_at)], ["duration", dur(r.duration)],
      ["message", r.message || "-"], ["parameters", el("span", { class: "mono" }, inline(r.parameters) || "-")]]));
    document.getElementById("dag").replaceChildren(dag(data.tasks, data.edges_known));
    document.getElementById("pipeline-tasks").replaceChildren(el("table", { id: "tasks" },
      el("thead", {}, el("tr", {}, ...["Task", "Status", "Started", "Duration", "Outputs", "Run"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...data.tasks.map((t) => el("tr", {}, el("td", {}, t.name), el("td", {}, status(t.run ? t.run.status : "Pending"), cachedText(t.run)),
        el("td", {}, when(t.run && t.run.started_at)), el("td", {}, dur(t.run && t.run.duration)),
        el("td", { class: "mono" }, t.run ? inline(t.run.outputs || t.run.metrics) : ""), el("td", {}, t.run ? runLink(t.run.id) : "-"))))));
  });
}

// A task KFP's cache served: it reused an earlier run's outputs (its message names that run).
function cachedText(run) {
  return run && run.reason === "Cached" ? " (Cached)" : "";
}

function dag(tasks, edgesKnown) {
  const names = tasks.map((t) => t.name);
  const layer = {};
  const depth = (name, seen = new Set()) => {
    if (name in layer) return layer[name];
    if (seen.has(name)) return 0;
    seen.add(name);
    const task = tasks.find((t) => t.name === name);
    const needs = (task ? task.needs : []).filter((n) => names.includes(n));
    return (layer[name] = needs.length ? 1 + Math.max(...needs.map((n) => depth(n, seen))) : 0);
  };
  names.forEach((n) => depth(n));
  const columns = {};
  for (const n of names) (columns[layer[n]] = columns[layer[n]] || []).push(n);
  const W = 170, H = 54, GX = 60, GY = 22;
  const position = {};
  for (const [col, list] of Object.entries(columns)) list.forEach((n, row) => { position[n] = [Number(col) * (W + GX) + 10, row * (H + GY) + 10]; });
  const width = (Object.keys(columns).length) * (W + GX) + 20, height = Math.max(...Object.values(columns).map((l) => l.length)) * (H + GY) + 20;
  const ns = "http://www.w3.org/2000/svg";
  const svg = (tag, attrs, ...kids) => { const n = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); n.append(...kids); return n; };
  const root = svg("svg", { class: "dag", width, height: Math.max(height, 80), id: "dag-svg" });
  for (const t of tasks) for (const need of t.needs) if (position[need]) {
    const [x1, y1] = position[need], [x2, y2] = position[t.name];
    root.append(svg("path", { d: `M${x1 + W},${y1 + H / 2} C${x1 + W + GX / 2},${y1 + H / 2} ${x2 - GX / 2},${y2 + H / 2} ${x2},${y2 + H / 2}`, fill: "none", stroke: "#868e96", "marker-end": "" }));
  }
  for (const t of tasks) {
    const [x, y] = position[t.name];
    const phase = t.run ? t.run.status : "Pending";
    const node = svg("g", { class: "node", "data-task": t.name, "data-status": phase, transform: `translate(${x},${y})` },
      svg("rect", { width: W, height: H, fill: STATUS_FILL[phase] || "#fff" }),
      svg("text", { x: 8, y: 20, "font-weight": "600" }, t.name.length > 24 ? t.name.slice(0, 23) + "…" : t.name),
      svg("text", { x: 8, y: 40 }, `${phase}${cachedText(t.run)}  ${t.run ? dur(t.run.duration) : ""}`));
    if (t.run) node.addEventListener("click", () => { location.href = `/runs/${encodeURIComponent(t.run.id)}`; });
    root.append(node);
  }
  return el("div", {}, root, edgesKnown ? null : el("p", { class: "muted" }, "This pipeline run recorded no task graph: tasks are shown without their edges."));
}

// -- routing --------------------------------------------------------------------------------

function route() {
  timers.forEach((t) => (t.stop ? t.stop() : clearTimeout(t)));
  timers = [];
  const parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  const nav = parts[0] === "runs" || parts[0] === "compare" || parts[0] === "pipelines" ? "runs" : "experiments";
  document.querySelectorAll("header nav a").forEach((a) => a.classList.toggle("active", a.id === `nav-${nav}`));
  if (document.body.dataset.status === "404") return notFound();
  const pages = {
    "": () => experimentsPage(), experiments: () => (parts[1] ? experimentPage(parts[1]) : experimentsPage()),
    runs: () => (parts[1] ? runPage(parts[1]) : runsPage()), compare: () => comparePage(), pipelines: () => pipelinePage(parts[1]),
  };
  const page = pages[parts[0] || ""];
  return page ? page().catch((e) => (e.status === 404 ? notFound() : showError(e))) : notFound();
}

document.addEventListener("DOMContentLoaded", route);
