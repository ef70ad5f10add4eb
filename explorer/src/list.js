// The sidebar: my accounts, hottest first, with score, trend, top driver, last activity, filters and search.

import { gql } from "./api.js";
import { driverText, el, humanize, scoreBadge, scoreSeries, sparkline, timeAgo, topDriver } from "./format.js";
import { ACCOUNTS } from "./queries.js";

const PAGE = 50;
const ORDERINGS = { intent: { field: "SCORE", direction: "DESC" }, name: { field: "NAME", direction: "ASC" },
  updated: { field: "UPDATED", direction: "DESC" } };

export class AccountList {
  constructor(root, { onOpen }) {
    this.root = root;
    this.onOpen = onOpen;
    this.accounts = [];
    this.byId = new Map();
    this.selected = null;
    this.cursor = null;
    this.state = { search: "", minScore: "", pendingOnly: false, order: "intent" };
    this.build();
  }

  build() {
    this.search = el("input", { type: "search", placeholder: "Search accounts…", "aria-label": "Search accounts",
      "data-testid": "search", oninput: () => this.debounce() });
    this.minScore = el("select", { "aria-label": "Minimum intent", "data-testid": "min-score", onchange: () => this.reload() },
      el("option", { value: "" }, "Any intent"), el("option", { value: "0.5" }, "Intent ≥ 50"),
      el("option", { value: "0.7" }, "Intent ≥ 70"), el("option", { value: "0.9" }, "Intent ≥ 90"));
    this.order = el("select", { "aria-label": "Sort by", "data-testid": "order", onchange: () => this.reload() },
      el("option", { value: "intent" }, "Hottest first"), el("option", { value: "name" }, "Name A–Z"),
      el("option", { value: "updated" }, "Recently updated"));
    this.pending = el("input", { type: "checkbox", "data-testid": "pending-only", onchange: () => this.render() });
    this.count = el("div", { class: "list-count", "data-testid": "account-count" });
    this.items = el("ul", { class: "account-list", "data-testid": "account-list" });
    this.more = el("button", { class: "link more", hidden: true, onclick: () => this.load(true) }, "Load more");
    this.root.replaceChildren(
      el("div", { class: "list-head" },
        el("h2", {}, "My accounts"), this.count),
      el("div", { class: "filters" }, this.search,
        el("div", { class: "filter-row" }, this.minScore, this.order),
        el("label", { class: "check" }, this.pending, "Needs my approval")),
      this.items, this.more);
  }

  debounce() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reload(), 250);
  }

  reload() {
    this.cursor = null;
    return this.load(false);
  }

  variables(after) {
    const filter = {};
    const words = this.search.value.trim();
    if (words) filter.search = words;
    if (this.minScore.value) filter.minScore = Number(this.minScore.value);
    return { first: PAGE, after, filter, orderBy: ORDERINGS[this.order.value] };
  }

  async load(append = false) {
    const ticket = (this.ticket = (this.ticket || 0) + 1);
    try {
      const data = await gql(ACCOUNTS, this.variables(append ? this.cursor : null));
      if (ticket !== this.ticket) return; // a newer search answered first
      const page = data.accounts;
      const nodes = page.edges.map((e) => e.node);
      this.accounts = append ? [...this.accounts, ...nodes] : nodes;
      this.total = page.totalCount;
      this.cursor = page.pageInfo.endCursor;
      this.more.hidden = !page.pageInfo.hasNextPage;
      this.byId = new Map(this.accounts.map((a) => [a.id, a]));
      this.render();
    } catch (err) {
      this.items.replaceChildren(el("li", { class: "error" }, `Could not load accounts: ${err.message}`));
      throw err;
    }
  }

  /** An action was decided: its account stops counting it at once (a reload confirms from the API). */
  decided(actionId) {
    let changed = false;
    for (const account of this.accounts) {
      const left = account.actions.filter((a) => a.id !== actionId);
      changed = changed || left.length !== account.actions.length;
      account.actions = left;
    }
    if (changed) this.render();
  }

  select(id) {
    this.selected = id;
    for (const item of this.items.children) item.classList.toggle("selected", item.dataset.id === id);
  }

  render() {
    const shown = this.pending.checked ? this.accounts.filter((a) => a.actions.length) : this.accounts;
    this.count.textContent = `${shown.length} of ${this.total ?? 0}`;
    if (!shown.length) {
      this.items.replaceChildren(el("li", { class: "empty" }, this.search.value ? "No account matches." : "No accounts to show."));
      return;
    }
    this.items.replaceChildren(...shown.map((a) => this.row(a)));
  }

  row(account) {
    const driver = topDriver(account.score);
    const last = account.activities[0];
    const pending = account.actions.length;
    const item = el("li", { class: account.id === this.selected ? "account-row selected" : "account-row",
      "data-testid": "account-row", dataset: { id: account.id }, tabindex: 0,
      onclick: () => this.onOpen(account.id),
      onkeydown: (e) => e.key === "Enter" && this.onOpen(account.id) },
    scoreBadge(account.score ? account.score.value : null),
    el("div", { class: "row-main" },
      el("div", { class: "row-title" },
        el("span", { class: "row-name", "data-testid": "account-name", title: account.name || "" }, account.name || "(unnamed)"),
        pending ? el("span", { class: "pill warn", "data-testid": "pending-count", title: `${pending} action(s) awaiting your approval` }, `${pending} to approve`) : null),
      el("div", { class: "row-driver", title: driver ? driverText(driver) : "" },
        driver ? driverText(driver) : (account.score ? "No drivers recorded" : "Not scored yet")),
      el("div", { class: "row-meta", title: account.industry || "" },
        last ? `${humanize(last.type)} ${timeAgo(last.at)}` : "No activity yet",
        account.industry ? ` · ${account.industry}` : "")),
    sparkline(scoreSeries(account.scoreHistory, account.score ? account.score.value : null)));
    return item;
  }
}
