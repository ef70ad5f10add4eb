// The explorer's shell: sign-in with an API key, routing (#/, #/account/<id>, #/account/<id>/graph) and live updates.

import { accountHeader, loadAccount, renderAccount } from "./account.js";
import { AuthError, Live, forgetKey, gql, storeKey, storedKey } from "./api.js";
import { el, humanize, scoreColor, scoreText, timeAgo } from "./format.js";
import { EXPAND_LIMIT, GraphView, LEGEND, MAX_NODES, hoverText } from "./graph.js";
import { AccountList } from "./list.js";
import { LIVE, ME, NEIGHBORHOOD, PENDING_ACTIONS } from "./queries.js";

// A score crossing this level upwards is announced ("heating up").
const HOT = 0.7;

const app = document.getElementById("app");
const state = { me: null, list: null, live: null, route: null, graph: null, account: null, freshActions: new Set() };

function shell() {
  const status = el("span", { class: "live is-offline", "data-testid": "live-status", title: "live updates" }, "offline");
  const sidebar = el("aside", { class: "sidebar" });
  const main = el("main", { class: "main", "data-testid": "main" });
  const toasts = el("div", { class: "toasts", "data-testid": "toasts", "aria-live": "polite" });
  app.replaceChildren(
    el("header", { class: "topbar" },
      el("a", { class: "brand", href: "#/" }, "kgcrm", el("span", {}, " explorer")),
      el("span", { class: "who", "data-testid": "who" }, `${humanize(state.me.role)}${state.me.userId ? ` · ${state.me.userId}` : ""}`),
      status,
      el("button", { class: "link", "data-testid": "sign-out", onclick: signOut }, "Sign out")),
    el("div", { class: "body" }, sidebar, main), toasts);
  return { status, sidebar, main, toasts };
}

function signIn(message = "") {
  const key = el("input", { type: "password", id: "key", autocomplete: "off", placeholder: "kgcrm_…", "data-testid": "key-input",
    required: true });
  const remember = el("input", { type: "checkbox", id: "remember" });
  const error = el("p", { class: "form-error", role: "alert", "data-testid": "sign-in-error" }, message);
  const form = el("form", { class: "sign-in", onsubmit: async (e) => {
    e.preventDefault();
    error.textContent = "";
    try {
      const data = await gql(ME, {}, key.value.trim());
      storeKey(key.value.trim(), remember.checked);
      start(data.me);
    } catch (err) {
      error.textContent = err instanceof AuthError ? `The API refused this key: ${err.message}.` : err.message;
    }
  } },
  el("h1", {}, "kgcrm explorer"),
  el("p", { class: "muted" }, "Your accounts, what drives their intent, the graph around them, and the actions waiting for you."),
  el("label", { for: "key" }, "API key"), key,
  el("label", { class: "check" }, remember, "Remember on this device"),
  el("button", { class: "primary", type: "submit", "data-testid": "sign-in" }, "Sign in"),
  error,
  el("p", { class: "muted small" }, "Ask your kgcrm administrator for a key (kgcrm apikey create). It is sent only to this server's API."));
  app.replaceChildren(el("div", { class: "sign-in-page" }, form));
  key.focus();
}

function signOut() {
  if (state.live) state.live.stop();
  forgetKey();
  location.hash = "#/";
  signIn();
}

function start(me) {
  state.me = me;
  state.ui = shell();
  state.list = new AccountList(state.ui.sidebar, { onOpen: (id) => { location.hash = `#/account/${encodeURIComponent(id)}`; } });
  state.listReady = state.list.reload().catch(handleError);
  state.live = new Live(LIVE, onLiveEvent, (s) => {
    state.ui.status.className = `live is-${s}`;
    state.ui.status.textContent = s;
  });
  state.live.start();
  // Decisions made elsewhere (another tab, a colleague) have no subscription: refresh when the user comes back.
  document.onvisibilitychange = () => {
    if (document.visibilityState !== "visible" || !state.list) return;
    state.list.reload().catch(handleError);
    if (state.route && state.route.view === "home") route();
  };
  window.onhashchange = route;
  route();
}

function handleError(err) {
  if (err instanceof AuthError) {
    if (state.live) state.live.stop();
    forgetKey();
    signIn(`Signed out: ${err.message}.`);
  }
}

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "account" && parts[1]) return { view: parts[2] === "graph" ? "graph" : "account", id: parts[1] };
  return { view: "home" };
}

async function route() {
  const next = parseRoute();
  state.route = next;
  if (state.graph) {
    state.graph.view.destroy();
    state.graph = null;
  }
  const main = state.ui.main;
  main.replaceChildren(el("p", { class: "muted loading" }, "Loading…"));
  main.scrollTop = 0;
  try {
    if (next.view === "home") await showHome(main);
    else await showAccount(main, next);
  } catch (err) {
    handleError(err);
    if (!(err instanceof AuthError)) main.replaceChildren(el("p", { class: "form-error" }, `Could not load this view: ${err.message}`));
  }
}

async function showHome(main) {
  state.account = null;
  state.list.select(null);
  const [data] = await Promise.all([gql(PENDING_ACTIONS), state.listReady]);
  if (state.route.view !== "home") return;
  const names = state.list.byId;
  main.replaceChildren(el("div", { class: "home", "data-testid": "home" },
    el("h1", {}, "Awaiting your approval"),
    data.actions.length ? el("ul", { class: "inbox" }, data.actions.map((a) => {
      const account = names.get(a.subjectId);
      return el("li", {}, el("a", { href: `#/account/${encodeURIComponent(a.subjectId)}` },
        el("strong", {}, account ? account.name : "Open the account"),
        el("span", { class: "muted" }, [` · ${humanize(a.kind)}`, humanize(a.policy || "manual"),
          a.scoreValue === null ? null : `intent ${scoreText(a.scoreValue)}`, timeAgo(a.createdAt)].filter(Boolean).join(" · "))),
      a.note ? el("div", { class: "muted small" }, a.note) : null);
    })) : el("p", { class: "muted" }, "Nothing waits for you. New actions appear here and in the account list as kgcrm proposes them."),
    el("p", { class: "muted small" }, "Pick an account on the left to see why its score moved, who is involved, and the graph around it.")));
}

async function showAccount(main, { view, id }) {
  const account = await loadAccount(id);
  if (state.route.id !== id || state.route.view !== view) return;
  state.list.select(account.__typename === "Account" ? account.id : null);
  if (account.__typename !== "Account") {
    state.account = null;
    main.replaceChildren(el("div", { class: "not-found", "data-testid": "not-found" },
      el("h1", {}, "No such account in your book"),
      el("p", { class: "muted" }, "It does not exist, or it belongs to someone else's book."),
      el("a", { href: "#/" }, "Back to my accounts")));
    return;
  }
  state.account = account;
  main.replaceChildren(accountHeader(account, view === "graph" ? "graph" : "overview"));
  if (view === "graph") await showGraph(main, account);
  else renderAccount(main, account, { onChanged: decided, freshActions: state.freshActions });
}

/** An action was approved or rejected here: the list stops counting it at once, then both views reload. */
function decided(action) {
  state.list.decided(action.id);
  refreshAccount().catch(handleError);
}

async function refreshAccount() {
  const route = state.route;
  if (route.view !== "account") return;
  const top = state.ui.main.scrollTop;
  await showAccount(state.ui.main, route);
  state.ui.main.scrollTop = top;
  state.list.reload().catch(handleError);
}

async function showGraph(main, account) {
  const depth = el("select", { "aria-label": "Depth", "data-testid": "depth" },
    el("option", { value: "1" }, "1 hop"), el("option", { value: "2", selected: true }, "2 hops"), el("option", { value: "3" }, "3 hops"));
  const info = el("div", { class: "graph-info", "data-testid": "graph-info" });
  const details = el("div", { class: "graph-details", "data-testid": "graph-details" },
    el("p", { class: "muted small" }, "Click a node to expand it; double-click an account to open it; hover for details."));
  const canvas = el("div", { class: "graph-canvas", "data-testid": "graph-canvas" });
  const tooltip = el("div", { class: "tooltip", hidden: true, "data-testid": "tooltip" });
  const expandAll = el("button", { class: "secondary", "data-testid": "expand-all" }, "Expand all");
  main.append(el("div", { class: "graph-layout" },
    el("div", { class: "graph-stage" }, canvas, tooltip),
    el("aside", { class: "graph-side" },
      el("div", { class: "graph-controls" }, depth,
        el("button", { class: "secondary", "data-testid": "fit", onclick: () => state.graph.view.fit() }, "Fit"), expandAll),
      info, legend(), details)));

  const view = new GraphView(canvas, {
    onOpen: (node) => node.label === "Account" && (location.hash = `#/account/${encodeURIComponent(node.id)}`),
    onHover: (node, pos) => {
      tooltip.hidden = !node;
      if (node) {
        tooltip.textContent = hoverText(node);
        tooltip.style.left = `${pos.x + 12}px`;
        tooltip.style.top = `${pos.y + 12}px`;
      }
    },
    onSelect: (node) => expand(node),
  });
  state.graph = { view, info, truncated: false };
  const describe = () => {
    const g = state.graph;
    info.replaceChildren(el("div", {}, el("strong", { "data-testid": "node-count" }, `${view.size} nodes`), ` · ${view.cy.edges().length} links`,
      g.truncated ? el("div", { class: "muted small" }, `Some neighbours are not shown (the API sends at most ${EXPAND_LIMIT} per request); click a node to expand it.`) : null,
      view.size >= MAX_NODES ? el("div", { class: "muted small" }, `The view holds at most ${MAX_NODES} nodes.`) : null));
  };
  const expand = async (node) => {
    details.replaceChildren(el("div", { class: "node-card" },
      el("strong", {}, node.name), el("div", { class: "muted small" }, node.label),
      ["Account", "Contact", "Opportunity"].includes(node.label)
        ? el("div", {}, el("span", { class: "dot", style: `background:${scoreColor(node.score)}` }), ` intent ${scoreText(node.score)}`) : null,
      node.label === "Account" ? el("a", { href: `#/account/${encodeURIComponent(node.id)}` }, "Open account") : null));
    if (view.expanded.has(node.id) || view.size >= MAX_NODES) return;
    const result = await neighborhood(node.id, 1);
    if (state.graph && state.graph.view === view && result) {
      view.merge(node.id, result);
      state.graph.truncated = state.graph.truncated || result.truncated;
      describe();
    }
  };
  expandAll.onclick = async () => {
    expandAll.disabled = true;
    const pending = view.unexpanded();
    try {
      for (let i = 0; i < pending.length && view.size < MAX_NODES && state.graph && state.graph.view === view; i += 4) {
        const batch = pending.slice(i, i + 4);
        // A node the API cannot expand (an error, a timeout) is left as it is; the others still grow.
        const results = await Promise.all(batch.map((id) => neighborhood(id, 1).catch(() => null)));
        batch.forEach((id, k) => results[k] && view.merge(id, results[k]));
        describe();
      }
    } finally {
      if (state.graph && state.graph.view === view) {
        view.layout(account.id);
        expandAll.disabled = false;
      }
    }
  };
  const load = async () => {
    const result = await neighborhood(account.id, Number(depth.value));
    if (!result || !state.graph || state.graph.view !== view) return;
    state.graph.truncated = result.truncated;
    await view.show(result);
    describe();
    view.complete.then(() => state.graph && state.graph.view === view && describe());
  };
  depth.onchange = load;
  await load();
}

async function neighborhood(id, depth) {
  const data = await gql(NEIGHBORHOOD, { id, depth, limit: EXPAND_LIMIT });
  const result = data.neighborhood;
  return result.__typename === "Neighborhood" ? result : null;
}

function legend() {
  return el("div", { class: "legend" },
    el("div", { class: "legend-scale" }, el("span", {}, "Intent"),
      el("span", { class: "gradient", style: `background:linear-gradient(90deg, ${scoreColor(0)}, ${scoreColor(0.5)}, ${scoreColor(1)})` }),
      el("span", { class: "muted small" }, "0–100")),
    el("ul", {}, LEGEND.map((label) => el("li", {}, el("span", { class: `shape ${label.toLowerCase()}` }), label))));
}

// Live notices: newest on top, at most TOASTS_SHOWN at once (older ones go), each gone after TOAST_MS
// unless the pointer rests on it.
const TOASTS_SHOWN = 4;
const TOAST_MS = 12000;

function toast(text, kind = "info", href = null) {
  const stack = state.ui.toasts;
  const close = () => item.remove();
  const item = el("div", { class: `toast toast-${kind}`, "data-testid": "toast", role: "status" },
    el(href ? "a" : "span", { class: "toast-text", href, title: text, onclick: close }, text),
    el("button", { class: "toast-close", "aria-label": "Dismiss", title: "Dismiss", onclick: close }, "×"));
  let timer = setTimeout(close, TOAST_MS);
  item.addEventListener("mouseenter", () => clearTimeout(timer));
  item.addEventListener("mouseleave", () => { timer = setTimeout(close, TOAST_MS / 2); });
  stack.prepend(item);
  while (stack.children.length > TOASTS_SHOWN) stack.lastElementChild.remove();
}

async function onLiveEvent(name, event) {
  if (!event) return;
  // An event can arrive before the list has loaded (just signed in): wait for it, to name the account.
  await state.listReady;
  const account = state.list.byId.get(event.subjectId);
  const what = account ? account.name : "one of your accounts";
  const href = `#/account/${encodeURIComponent(event.subjectId)}`;
  if (name === "actionCreated") {
    state.freshActions.add(event.id);
    toast(`New action for ${what}: ${humanize(event.kind)}${event.status === "pending_approval" ? ", awaiting your approval" : ""}`, "action", href);
  } else if (name === "scoreChanged" && event.newScore >= HOT && (event.oldScore ?? 0) < HOT) {
    const from = event.oldScore === null || event.oldScore === undefined ? "newly scored at" : `intent ${scoreText(event.oldScore)} →`;
    toast(`${what} is heating up: ${from} ${scoreText(event.newScore)}`, "hot", href);
  }
  clearTimeout(state.liveTimer);
  state.liveTimer = setTimeout(() => {
    state.list.reload().catch(handleError);
    const current = state.account;
    if (state.route.view === "account" && current && current.id === event.subjectId) refreshAccount().catch(handleError);
    if (state.route.view === "home") route();
  }, 150);
}

// Test and benchmark hook: draw a neighbourhood in a fresh view and report the time to its first frame.
window.kgcrmExplorer = {
  async renderNeighborhood(neighborhood) {
    const host = el("div", { class: "graph-canvas bench" });
    state.ui.main.replaceChildren(host);
    const view = new GraphView(host, {});
    const ms = await view.show(neighborhood);
    const firstNodes = view.firstCount;
    const completeMs = await view.complete;
    return { ms, completeMs, firstNodes, nodes: view.size, edges: view.cy.edges().length };
  },
  // The drawn nodes with their positions on the canvas (pixels from its top left corner), the side their name is
  // drawn on (null: hidden for want of room) and the name's box as Cytoscape draws it.
  graphNodes() {
    if (!state.graph) return [];
    const view = state.graph.view;
    return view.cy.nodes().map((n) => {
      const side = view.sides.get(n.id()) || null;
      const b = side ? n.renderedBoundingBox({ includeNodes: false, includeEdges: false, includeLabels: true }) : null;
      return { id: n.id(), label: n.data("label"), name: n.data("name"), score: n.data("score"),
        x: n.renderedPosition("x"), y: n.renderedPosition("y"), expanded: view.expanded.has(n.id()),
        side, labelBox: b && { x1: b.x1, y1: b.y1, x2: b.x2, y2: b.y2 } };
    });
  },
};

function boot() {
  const fragment = new URLSearchParams(location.hash.startsWith("#key=") ? location.hash.slice(1) : "");
  if (fragment.get("key")) {
    storeKey(fragment.get("key"), false);
    history.replaceState(null, "", location.pathname + "#/");
  }
  if (typeof window.cytoscape !== "function") {
    app.replaceChildren(el("p", { class: "form-error" },
      "The graph library is not installed on this server: run `make install` (npm ci in explorer/)."));
    return;
  }
  const key = storedKey();
  if (!key) {
    signIn();
    return;
  }
  gql(ME).then((data) => start(data.me)).catch((err) => signIn(err instanceof AuthError ? `Please sign in again: ${err.message}.` : err.message));
}

boot();
