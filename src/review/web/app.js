// terreno's review page. Every text from the run is set with textContent (never parsed as
// HTML); every change is a POST with the page's token in the X-Terreno-Token header.
"use strict";

const WORDS = {
  it: {
    search: "Cerca nei passaggi…", all_documents: "Tutti i documenti", all_speakers: "Tutti i parlanti",
    all_roles: "Tutti i ruoli", attribute: "Attributo…", finish: "Scrivi il codebook", confirm: "Conferma",
    assign: "Assegna", rename: "Rinomina", merge: "Unisci", reject: "Scarta", skip: "Salta", memo: "Memo",
    undo: "Annulla", passages: "Passaggi", more: "Altri passaggi", cancel: "Annulla", keys: "Tasti",
    decided: "decisi", of: "di", all_passages: "Tutti i passaggi", no_code: "In nessun codice",
    no_category: "Senza categoria", open: "aperto", confirmed: "confermato", assigned: "assegnato",
    merged: "unito a", rejected: "scartato", key_terms: "Termini chiave", in_vivo: "Nelle loro parole",
    matches: "Codici simili", prior: "Revisione precedente", memos: "Memo", speakers: "parlanti",
    documents: "documenti", category: "Categoria", name: "Nome", definition: "Definizione",
    parent: "Codice padre", none: "(nessuno)", code: "Codice", reason: "Perché non è un codice?",
    pick: "Candidati da unire a questo", move_to: "Sposta in", out_of_all: "(fuori da ogni codice)",
    move: "Sposta…", context: "Contesto", question: "D:", new_name: "Nuovo nome", memo_text: "Memo",
    nothing_to_undo: "Niente da annullare", undone: "annullato", written: "Codebook scritto in",
    unchanged: "Il codebook non è cambiato", single: "per lo più un solo parlante",
    help_next: "candidato seguente / precedente", help_move: "sposta il passaggio selezionato",
    help_search: "cerca", help_focus: "passaggio seguente / precedente", moved_in: "spostato qui",
    proposal: "Proposta", category_confirm: "Conferma la categoria", category_rename: "Rinomina la categoria",
  },
  en: {
    search: "Search passages…", all_documents: "All documents", all_speakers: "All speakers",
    all_roles: "All roles", attribute: "Attribute…", finish: "Write the codebook", confirm: "Confirm",
    assign: "Assign", rename: "Rename", merge: "Merge", reject: "Reject", skip: "Skip", memo: "Memo",
    undo: "Undo", passages: "Passages", more: "More passages", cancel: "Cancel", keys: "Keys",
    decided: "decided", of: "of", all_passages: "All passages", no_code: "In no code",
    no_category: "No category", open: "open", confirmed: "confirmed", assigned: "assigned",
    merged: "merged into", rejected: "rejected", key_terms: "Key terms", in_vivo: "In their words",
    matches: "Similar codes", prior: "Earlier review", memos: "Memos", speakers: "speakers",
    documents: "documents", category: "Category", name: "Name", definition: "Definition",
    parent: "Parent code", none: "(none)", code: "Code", reason: "Why is it not a code?",
    pick: "Candidates to merge into this one", move_to: "Move to", out_of_all: "(out of every code)",
    move: "Move…", context: "Context", question: "Q:", new_name: "New name", memo_text: "Memo",
    nothing_to_undo: "Nothing to undo", undone: "undone", written: "Codebook written to",
    unchanged: "The codebook is unchanged", single: "mostly one speaker",
    help_next: "next / previous candidate", help_move: "move the selected passage",
    help_search: "search", help_focus: "next / previous passage", moved_in: "moved here",
    proposal: "Proposal", category_confirm: "Confirm the category", category_rename: "Rename the category",
  },
};

const token = document.querySelector('meta[name="terreno-token"]').content;
const W = WORDS[document.documentElement.lang] || WORDS.en;
const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
};

let state = null;
let selected = null;
let map = null;
let members = [];
let offset = 0;
let total = 0;
let counts = null;
let viewSeq = 0;

async function get(path) {
  const r = await fetch(path, { credentials: "same-origin" });
  if (!r.ok) throw new Error(await r.text());
  return r.json();
}

async function post(path, body) {
  const r = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-Terreno-Token": token },
    body: JSON.stringify(body || {}),
  });
  const j = await r.json().catch(() => ({ error: r.statusText }));
  if (!r.ok) throw new Error(j.error || r.statusText);
  return j;
}

function say(text, ok) {
  const m = $("message");
  m.textContent = text;
  m.className = ok ? "ok" : "";
  m.hidden = !text;
}

function filters() {
  const p = new URLSearchParams();
  const add = (k, v) => { if (v) p.set(k, v); };
  add("document", $("f-document").value);
  add("speaker", $("f-speaker").value);
  add("role", $("f-role").value);
  if ($("f-attr").value) { p.set("attr", $("f-attr").value); p.set("value", $("f-value").value); }
  add("q", $("search").value.trim());
  return p;
}

function filtering() {
  return [...filters().keys()].length > 0;
}

function candidate(id) {
  return state.candidates.find((c) => c.id === id);
}

function statusBadge(s) {
  const b = el("span", "status " + s.status, W[s.status] || s.status);
  if (s.status === "merged") b.textContent = W.merged + " " + s.detail;
  return b;
}

function renderTree() {
  const tree = $("tree");
  tree.replaceChildren();
  const special = el("ul");
  for (const [id, label, n] of [["*", W.all_passages, counts ? counts.matching : state.passages], ["-", W.no_code, state.unplaced]]) {
    const li = el("li");
    li.dataset.id = id;
    li.append(el("span", "label", label), el("span", "n", n));
    li.setAttribute("aria-selected", String(selected === id));
    special.append(li);
  }
  tree.append(special);
  const groups = state.categories.map((k) => ({ k, items: state.candidates.filter((c) => c.category === k.index) }));
  const loose = state.candidates.filter((c) => !state.categories.some((k) => k.index === c.category));
  if (loose.length) groups.push({ k: null, items: loose });
  for (const { k, items } of groups) {
    const d = el("details");
    d.open = true;
    const s = el("summary");
    if (k) {
      s.dataset.category = k.id;
      s.append(el("span", null, k.id + " " + k.name + " "), statusBadge(k));
    } else {
      s.textContent = W.no_category;
    }
    d.append(s);
    const ul = el("ul");
    for (const c of items) {
      const li = el("li");
      li.dataset.id = c.id;
      li.setAttribute("aria-selected", String(selected === c.id));
      const n = counts ? (counts.counts[c.id] || 0) : c.size;
      if (counts && !n) li.classList.add("filtered-out");
      li.append(el("span", "id", c.id), el("span", "label", c.label), el("span", "n", n), statusBadge(c));
      ul.append(li);
    }
    d.append(ul);
    tree.append(d);
  }
  $("progress-bar").max = state.total || 1;
  $("progress-bar").value = state.decided;
  $("progress-text").textContent = `${state.decided} ${W.of} ${state.total} ${W.decided}`;
  $("run").textContent = state.run;
}

function renderCard() {
  const c = candidate(selected);
  $("c-id").textContent = c ? c.id : "";
  $("c-label").textContent = c ? c.label : (selected === "*" ? W.all_passages : W.no_code);
  $("actions").hidden = !c;
  const dl = $("c-details");
  dl.replaceChildren();
  $("c-meta").textContent = "";
  $("c-status").replaceChildren();
  if (!c) return;
  const k = state.categories.find((k) => k.index === c.category);
  $("c-meta").textContent = `${c.size} ${W.passages.toLowerCase()} · ${c.speakers} ${W.speakers} · ${c.documents} ${W.documents}` +
    (c.single_speaker ? ` · ${W.single}` : "");
  $("c-status").append(statusBadge(c));
  if (c.status === "confirmed" || c.status === "assigned" || c.status === "rejected") {
    $("c-status").append(" " + c.detail);
  }
  const row = (term, value) => { if (value === "" || value === null || value === undefined) return; dl.append(el("dt", null, term)); const d = el("dd"); d.append(value); dl.append(d); };
  if (k) {
    const span = el("span", null, `${k.id} ${k.name} `);
    span.append(statusBadge(k));
    for (const [a, label] of [["cat-confirm", W.category_confirm], ["cat-rename", W.category_rename], ["cat-memo", W.memo]]) {
      const b = el("button", null, label);
      b.type = "button";
      b.dataset.act = a;
      span.append(" ", b);
    }
    row(W.category, span);
    if (k.memos.length) {
      const ul = el("ul");
      for (const m of k.memos) ul.append(el("li", null, `${m.who}: ${m.memo}`));
      row(`${W.memos} (${k.id})`, ul);
    }
  }
  row(W.key_terms, c.key_terms.join(" · "));
  row(W.in_vivo, c.in_vivo.map((p) => `“${p}”`).join(", "));
  if (c.matches.length) {
    const ol = el("ol");
    for (const m of c.matches) ol.append(el("li", null, `${m.name} (${m.code}) ${m.similarity.toFixed(2)}`));
    row(W.matches, ol);
  }
  if (c.prior) row(W.prior, `${c.prior.label} · ${W[c.prior.decision] || c.prior.decision}${c.prior.reason ? " · " + c.prior.reason : ""}`);
  if (c.memos.length) {
    const ul = el("ul");
    for (const m of c.memos) ul.append(el("li", null, `${m.who}: ${m.memo}`));
    row(W.memos, ul);
  }
}

function time(t) {
  if (t === null || t === undefined) return "";
  const s = Math.round(t);
  return ` ${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function renderMembers(append) {
  const ol = $("members");
  if (!append) ol.replaceChildren();
  for (const p of members.slice(append ? ol.children.length : 0)) {
    const li = el("li");
    li.tabIndex = 0;
    li.dataset.passage = p.id;
    li.dataset.in = p.in || "";
    const who = el("div", "who", `${p.speaker} · ${p.document}${time(p.time)} · ${p.id}`);
    if (p.in && p.in !== selected && selected !== "*") who.append(" · " + W.moved_in);
    if (selected === "*" && p.in) who.append(" · " + p.in);
    li.append(who);
    if (p.prompt) li.append(el("div", "q", `${W.question} ${p.prompt}`));
    li.append(el("div", "text", p.text));
    const tools = el("div", "tools");
    const ctx = el("button", null, W.context);
    ctx.type = "button";
    ctx.dataset.tool = "context";
    const mv = el("button", null, W.move);
    mv.type = "button";
    mv.dataset.tool = "move";
    tools.append(ctx, mv);
    li.append(tools);
    ol.append(li);
  }
  $("members-count").textContent = `(${total})`;
  $("more").hidden = members.length >= total;
}

async function loadView(append) {
  const seq = ++viewSeq;
  const p = filters();
  p.set("c", selected);
  p.set("offset", append ? members.length : 0);
  const v = await get("/api/view?" + p.toString());
  if (seq !== viewSeq) return;
  total = v.total;
  members = append ? members.concat(v.passages) : v.passages;
  counts = filtering() ? v : null;
}

async function select(id) {
  selected = id;
  document.body.dataset.shown = "";
  await loadView(false);
  renderTree();
  renderCard();
  renderMembers(false);
  drawMap();
  const li = document.querySelector(`#tree li[data-id="${CSS.escape(id)}"]`);
  if (li) li.scrollIntoView({ block: "nearest" });
  document.body.dataset.shown = id;
}

async function refresh(next) {
  // Nothing is shown as settled until the page has caught up with the decision.
  document.body.dataset.shown = "";
  state = await get("/api/state");
  map = await get("/api/map");
  let id = selected;
  if (next) {
    const order = state.candidates.map((c) => c.id);
    const after = order.slice(order.indexOf(selected) + 1).concat(order);
    id = after.find((x) => candidate(x).status === "open") || selected;
  }
  await select(id);
}

function drawMap() {
  const cv = $("map");
  if (!map) return;
  const ctx = cv.getContext("2d");
  const w = cv.width, h = cv.height, pad = 8;
  ctx.clearRect(0, 0, w, h);
  const xs = map.x, ys = map.y;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let i = 0; i < xs.length; i++) {
    if (xs[i] < x0) x0 = xs[i]; if (xs[i] > x1) x1 = xs[i];
    if (ys[i] < y0) y0 = ys[i]; if (ys[i] > y1) y1 = ys[i];
  }
  const sx = (w - 2 * pad) / ((x1 - x0) || 1), sy = (h - 2 * pad) / ((y1 - y0) || 1);
  const target = map.ids.indexOf(selected);
  ctx.fillStyle = "rgba(120,130,150,0.35)";
  for (let i = 0; i < xs.length; i++) {
    if (map.in[i] !== target || target < 0) ctx.fillRect(pad + (xs[i] - x0) * sx, h - pad - (ys[i] - y0) * sy, 2, 2);
  }
  if (target < 0) return;
  ctx.fillStyle = "#d2432f";
  for (let i = 0; i < xs.length; i++) {
    if (map.in[i] === target) ctx.fillRect(pad + (xs[i] - x0) * sx - 1, h - pad - (ys[i] - y0) * sy - 1, 4, 4);
  }
}

async function showContext(id) {
  const c = await get("/api/context?p=" + encodeURIComponent(id));
  const box = $("context");
  box.replaceChildren(el("h3", null, `${W.context}: ${c.document}`));
  for (const t of c.turns) {
    const p = el("p", t.this ? "this" : null);
    p.append(el("strong", null, t.speaker + time(t.time) + ": "), t.text);
    box.append(p);
  }
}

// Dialogs: fields are built from DOM nodes; `run` does the action and returns an error
// message or nothing.
function dialog(title, fields, run) {
  const d = $("dialog");
  $("d-title").textContent = title;
  $("d-fields").replaceChildren(...fields);
  $("d-error").textContent = "";
  d.onsubmit = async (ev) => {
    ev.preventDefault();
    try {
      await run();
      d.close();
    } catch (e) {
      $("d-error").textContent = e.message;
    }
  };
  d.showModal();
  const first = d.querySelector("input,textarea,select");
  if (first) first.focus();
}

function field(label, input) {
  const l = el("label", null, label);
  l.htmlFor = input.id;
  return [l, input];
}

function textInput(id, value) {
  const i = el("input");
  i.type = "text";
  i.id = id;
  i.value = value || "";
  return i;
}

function textArea(id) {
  const t = el("textarea");
  t.id = id;
  t.rows = 3;
  return t;
}

function selectOf(id, options) {
  const s = el("select");
  s.id = id;
  for (const [value, label] of options) {
    const o = el("option", null, label);
    o.value = value;
    s.append(o);
  }
  return s;
}

// While a decision is on its way and the page catches up with it, nothing is shown as settled.
async function decide(body, next) {
  document.body.dataset.shown = "";
  let r;
  try {
    r = await post("/api/decide", body);
  } catch (e) {
    document.body.dataset.shown = selected;
    throw e;
  }
  if (body.action === "move") say(`${body.passage} → ${body.to || W.out_of_all}`, true);
  else say(`${r.candidate} ${r.verb}${r.code ? " → " + r.code : ""}`, true);
  await refresh(next);
}

function act(what) {
  const c = candidate(selected);
  if (what === "undo") return undoLast();
  if (!c) return;
  const memo = () => textArea("d-memo");
  const k = state.categories.find((k) => k.index === c.category);
  if (what === "cat-confirm" && k) {
    dialog(`${W.category_confirm} ${k.id}`, [
      ...field(W.name, textInput("d-name", k.name)),
      ...field(W.definition, textArea("d-definition")),
    ], () => decide({ candidate: k.id, action: "confirm", name: $("d-name").value, definition: $("d-definition").value }, false));
  } else if (what === "cat-memo" && k) {
    dialog(`${W.memo} ${k.id}`, [...field(W.memo_text, textArea("d-memo"))],
      () => decide({ candidate: k.id, action: "memo", memo: $("d-memo").value }, false));
  } else if (what === "cat-rename" && k) {
    dialog(`${W.category_rename} ${k.id}`, [...field(W.new_name, textInput("d-name", k.name))],
      () => decide({ candidate: k.id, action: "rename", name: $("d-name").value }, false));
  } else if (what === "confirm") {
    const parents = [["", W.none]].concat(state.codes.map((k) => [k.id, k.name]));
    dialog(`${W.confirm} ${c.id}`, [
      ...field(W.name, textInput("d-name", c.label)),
      ...field(W.definition, textArea("d-definition")),
      ...field(W.parent, selectOf("d-parent", parents)),
      ...field(W.memo_text, memo()),
    ], () => decide({ candidate: c.id, action: "confirm", name: $("d-name").value, definition: $("d-definition").value, parent: $("d-parent").value, memo: $("d-memo").value }, true));
  } else if (what === "assign") {
    const matched = c.matches.map((m) => [m.code, `${m.name} (${m.similarity.toFixed(2)})`]);
    const rest = state.codes.filter((k) => k.codable && !c.matches.some((m) => m.code === k.id)).map((k) => [k.id, k.name]);
    dialog(`${W.assign} ${c.id}`, [
      ...field(W.code, selectOf("d-code", matched.concat(rest))),
      ...field(W.memo_text, memo()),
    ], () => decide({ candidate: c.id, action: "assign", code: $("d-code").value, memo: $("d-memo").value }, true));
  } else if (what === "rename") {
    dialog(`${W.rename} ${c.id}`, [...field(W.new_name, textInput("d-name", c.label))],
      () => decide({ candidate: c.id, action: "rename", name: $("d-name").value }, false));
  } else if (what === "merge") {
    const pick = el("div", "pick");
    pick.id = "d-pick";
    for (const o of state.candidates) {
      if (o.id === c.id) continue;
      const l = el("label");
      const box = el("input");
      box.type = "checkbox";
      box.value = o.id;
      l.append(box, el("span", null, `${o.id} ${o.label} (${o.size})`));
      pick.append(l);
    }
    dialog(`${W.merge}: ${c.id} ${c.label}`, [el("p", null, W.pick), pick, ...field(W.memo_text, memo())], async () => {
      const ids = [...pick.querySelectorAll("input:checked")].map((b) => b.value);
      for (const id of ids) await post("/api/decide", { candidate: id, action: "merge", into: c.id, memo: $("d-memo").value });
      say(`${ids.join(", ")} ${W.merged} ${c.id}`, true);
      await refresh(false);
    });
  } else if (what === "reject") {
    dialog(`${W.reject} ${c.id}`, [...field(W.reason, textInput("d-reason", ""))],
      () => decide({ candidate: c.id, action: "reject", reason: $("d-reason").value }, true));
  } else if (what === "skip") {
    decide({ candidate: c.id, action: "skip" }, true).catch((e) => say(e.message));
  } else if (what === "memo") {
    dialog(`${W.memo} ${c.id}`, [...field(W.memo_text, memo())],
      () => decide({ candidate: c.id, action: "memo", memo: $("d-memo").value }, false));
  }
}

function movePassage(li) {
  if (!li) return;
  const from = li.dataset.in;
  const options = [["", W.out_of_all]].concat(state.candidates.filter((c) => c.id !== from).map((c) => [c.id, `${c.id} ${c.label}`]));
  dialog(`${W.move} ${li.dataset.passage}`, [...field(W.move_to, selectOf("d-to", options))],
    () => decide({ candidate: from, action: "move", passage: li.dataset.passage, to: $("d-to").value }, false));
}

async function undoLast() {
  document.body.dataset.shown = "";
  try {
    const r = await post("/api/undo");
    if (r.undone === null) say(W.nothing_to_undo);
    else say(`${r.candidate} ${r.verb}: ${W.undone}`, true);
    await refresh(false);
  } catch (e) {
    document.body.dataset.shown = selected;
    say(e.message);
  }
}

function fillFilters() {
  const fill = (id, values) => {
    const s = $(id);
    for (const v of values) {
      const o = el("option", null, v);
      o.value = v;
      s.append(o);
    }
  };
  fill("f-document", state.filters.documents);
  fill("f-speaker", state.filters.speakers);
  fill("f-role", state.filters.roles);
  fill("f-attr", state.filters.attributes.map((a) => a.name));
  $("f-attr").onchange = () => {
    const a = state.filters.attributes.find((x) => x.name === $("f-attr").value);
    const s = $("f-value");
    s.replaceChildren();
    s.hidden = !a;
    if (a) for (const v of a.values) { const o = el("option", null, v); o.value = v; s.append(o); }
    select(selected);
  };
  for (const id of ["f-document", "f-speaker", "f-role", "f-value"]) $(id).onchange = () => select(selected);
  let timer = null;
  $("search").oninput = () => { clearTimeout(timer); timer = setTimeout(() => select(selected), 150); };
}

function move(delta) {
  const order = state.candidates.map((c) => c.id);
  const i = order.indexOf(selected);
  const j = Math.max(0, Math.min(order.length - 1, (i < 0 ? -1 : i) + delta));
  select(order[j]);
}

function focusedPassage() {
  const f = document.activeElement;
  if (f && f.dataset && f.dataset.passage) return f;
  return $("members").firstElementChild;
}

function keys() {
  const rows = [["c", W.confirm], ["a", W.assign], ["r", W.rename], ["m", W.merge], ["x", W.reject], ["s", W.skip],
    ["n", W.memo], ["u", W.undo], ["v", W.help_move], ["j / k", W.help_next], ["↓ / ↑", W.help_focus], ["/", W.help_search]];
  const t = $("keys");
  for (const [k, what] of rows) {
    const tr = el("tr");
    const td = el("td");
    td.append(el("kbd", null, k));
    tr.append(td, el("td", null, what));
    t.append(tr);
  }
}

document.addEventListener("keydown", (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (document.querySelector("dialog[open]")) return;
  const t = ev.target;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) {
    if (ev.key === "Escape") t.blur();
    return;
  }
  const k = ev.key;
  const acts = { c: "confirm", a: "assign", r: "rename", m: "merge", x: "reject", s: "skip", n: "memo", u: "undo" };
  if (acts[k]) { ev.preventDefault(); act(acts[k]); }
  else if (k === "j") { ev.preventDefault(); move(1); }
  else if (k === "k") { ev.preventDefault(); move(-1); }
  else if (k === "v") { ev.preventDefault(); movePassage(focusedPassage()); }
  else if (k === "/") { ev.preventDefault(); $("search").focus(); }
  else if (k === "?") { $("help-dialog").showModal(); }
  else if (k === "ArrowDown" || k === "ArrowUp") {
    const f = document.activeElement && document.activeElement.dataset && document.activeElement.dataset.passage ? document.activeElement : null;
    const n = f ? (k === "ArrowDown" ? f.nextElementSibling : f.previousElementSibling) : $("members").firstElementChild;
    if (n) { ev.preventDefault(); n.focus(); }
  }
});

document.addEventListener("click", (ev) => {
  const t = ev.target.closest("button,li,summary");
  if (!t) return;
  if (t.dataset.act) { act(t.dataset.act); return; }
  if (t.dataset.tool) {
    const li = t.closest("li[data-passage]");
    if (t.dataset.tool === "context") showContext(li.dataset.passage).catch((e) => say(e.message));
    else movePassage(li);
    return;
  }
  if (t.tagName === "LI" && t.dataset.id && t.closest("#tree")) { select(t.dataset.id); return; }
  if (t.tagName === "SUMMARY" && t.dataset.category && ev.altKey) return;
});

async function start() {
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = W[e.dataset.i18n];
  for (const e of document.querySelectorAll("[data-i18n-placeholder]")) e.placeholder = W[e.dataset.i18nPlaceholder];
  keys();
  $("d-cancel").onclick = () => $("dialog").close();
  $("help").onclick = () => $("help-dialog").showModal();
  $("more").onclick = async () => { await loadView(true); renderMembers(true); };
  $("finish").onclick = async () => {
    try {
      const r = await post("/api/finish");
      say(r.written ? `${W.written} ${r.written}` : W.unchanged, true);
    } catch (e) { say(e.message); }
  };
  state = await get("/api/state");
  fillFilters();
  map = await get("/api/map");
  await select(state.first_open || (state.candidates[0] && state.candidates[0].id) || "*");
  document.body.dataset.readyMs = String(performance.now());
  document.body.dataset.ready = "1";
}

start().catch((e) => say(e.message));
