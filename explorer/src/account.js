// The account view: score and drivers in words, score history, contacts, opportunities, activities and actions.

import { gql } from "./api.js";
import {
  dateText, driverText, el, historyChart, humanize, money, scoreBadge, scoreSeries, scoreText, statusText, timeAgo,
} from "./format.js";
import { ACCOUNT, APPROVE, REJECT } from "./queries.js";

// Reason codes offered for a decision (snake_case tokens; they become retraining labels, docs/activation.md).
export const REASONS = {
  approve: ["good_fit", "strong_buying_signal", "right_timing", "champion_engaged"],
  reject: ["not_a_fit", "already_engaged", "bad_timing", "wrong_contact", "duplicate", "budget_exceeded"],
};

export async function loadAccount(id) {
  const data = await gql(ACCOUNT, { id });
  return data.account;
}

function card(title, testid, ...body) {
  return el("section", { class: "card", "data-testid": testid }, el("h3", {}, title), ...body);
}

function empty(text) {
  return el("p", { class: "muted" }, text);
}

export function accountHeader(account, tab, go) {
  const score = account.score ? account.score.value : null;
  const series = scoreSeries(account.scoreHistory, score);
  const trend = series.length > 1 ? series[series.length - 1] - series[Math.max(0, series.length - 2)] : 0;
  return el("header", { class: "account-head" },
    scoreBadge(score, true),
    el("div", { class: "head-main" },
      el("h1", { "data-testid": "account-title", title: account.name || "" }, account.name || "(unnamed)"),
      el("div", { class: "muted" }, [account.industry, account.region, account.domain,
        account.owner ? `owner ${account.owner.name}` : null].filter(Boolean).join(" · "))),
    el("div", { class: "head-trend" },
      score === null ? "Not scored yet" : `Intent ${scoreText(score)}`,
      trend ? el("span", { class: trend > 0 ? "up" : "down" }, ` ${trend > 0 ? "▲" : "▼"} ${Math.abs(Math.round(trend * 100))}`) : null),
    el("nav", { class: "tabs" },
      el("a", { href: `#/account/${encodeURIComponent(account.id)}`, class: tab === "overview" ? "active" : "",
        "data-testid": "tab-overview" }, "Overview"),
      el("a", { href: `#/account/${encodeURIComponent(account.id)}/graph`, class: tab === "graph" ? "active" : "",
        "data-testid": "tab-graph" }, "Graph")));
}

export function renderAccount(main, account, { onChanged, freshActions = new Set() }) {
  const score = account.score;
  const drivers = score ? [...score.drivers].sort((a, b) => Math.abs(b.contribution || 0) - Math.abs(a.contribution || 0)) : [];
  const maxContribution = Math.max(0.0001, ...drivers.map((d) => Math.abs(d.contribution || 0)));
  const roles = contactRoles(account.opportunities);

  const why = card("Why this score", "drivers",
    score ? el("p", { class: "lead" }, `${account.name} scores ${scoreText(score.value)} out of 100`,
      score.scoredAt ? ` (scored ${timeAgo(score.scoredAt)}${score.model ? `, model ${score.model}` : ""})` : "", ".")
      : empty("This account has not been scored yet."),
    drivers.length ? el("ol", { class: "drivers" }, drivers.map((d) => el("li", {},
      el("span", { class: "driver-text" }, driverText(d)),
      d.contribution !== null && d.contribution !== undefined
        ? el("span", { class: "driver-bar", title: `${d.contribution >= 0 ? "raises" : "lowers"} the score by ${Math.abs(d.contribution).toFixed(2)}` },
          el("span", { class: d.contribution >= 0 ? "bar up" : "bar down",
            style: `width:${Math.round((Math.abs(d.contribution) / maxContribution) * 100)}%` }))
        : null)))
      : score ? empty("The model recorded no drivers for this score.") : null);

  const history = card("Score history", "score-history",
    historyChart(account.scoreHistory, score ? score.value : null),
    el("p", { class: "muted small" }, `${account.scoreHistory.length} change(s) recorded`));

  const actions = card("Actions", "actions",
    account.actions.length ? el("ul", { class: "actions" }, account.actions.map((a) => actionRow(a, onChanged, freshActions.has(a.id))))
      : empty("kgcrm has proposed no actions for this account."));

  const contacts = card(`Contacts (${account.contacts.length})`, "contacts",
    account.contacts.length ? el("table", { class: "table" },
      el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Role"), el("th", {}, "Engagement"), el("th", {}, "Last active"))),
      el("tbody", {}, [...account.contacts].sort((a, b) => (b.score?.value ?? -1) - (a.score?.value ?? -1)).map((c) => el("tr", {},
        el("td", {}, el("div", { class: "two-lines", title: c.name || "" }, c.name || "(unnamed)"),
          el("div", { class: "muted small one-line", title: [c.title, c.seniority].filter(Boolean).join(" · ") },
            [c.title, c.seniority].filter(Boolean).join(" · "))),
        el("td", { class: "roles" }, (roles.get(c.id) || []).map((r) => el("span", { class: "pill", title: humanize(r) }, humanize(r)))),
        el("td", {}, engagement(c.score ? c.score.value : null)),
        el("td", { class: "muted" }, c.activities[0] ? timeAgo(c.activities[0].at) : "–")))))
      : empty("No current contacts."));

  const opportunities = card(`Opportunities (${account.opportunities.length})`, "opportunities",
    account.opportunities.length ? el("table", { class: "table" },
      el("thead", {}, el("tr", {}, el("th", {}, "Deal"), el("th", {}, "Stage"), el("th", { class: "num" }, "Amount"), el("th", {}, "Close"))),
      el("tbody", {}, account.opportunities.map((o) => el("tr", { class: o.isClosed ? "closed" : "" },
        el("td", { title: o.name || "" }, o.name || "(unnamed)"),
        el("td", {}, el("span", { class: o.isClosed ? (o.isWon ? "pill good" : "pill") : "pill open" }, o.stage || (o.isClosed ? "Closed" : "Open"))),
        el("td", { class: "num" }, money(o.amount)),
        el("td", { class: "muted" }, dateText(o.closeDate))))))
      : empty("No opportunities."));

  const activities = card("Recent activity", "activities",
    account.activities.length ? el("ul", { class: "timeline" }, account.activities.map((a) => el("li", {
      title: [humanize(a.type), a.subject].filter(Boolean).join(": ") },
      el("span", { class: "when" }, timeAgo(a.at)),
      el("span", { class: "what" }, humanize(a.type)),
      a.subject ? el("span", { class: "muted" }, ` ${a.subject}`) : null)))
      : empty("No activity recorded."));

  main.append(el("div", { class: "cards" },
    el("div", { class: "col" }, why, history, activities),
    el("div", { class: "col" }, actions, contacts, opportunities)));
}

function engagement(value) {
  if (value === null || value === undefined) return el("span", { class: "muted" }, "–");
  return el("span", { class: "meter", title: `contact intent ${scoreText(value)}` },
    el("span", { style: `width:${Math.round(value * 100)}%` }), el("em", {}, scoreText(value)));
}

function contactRoles(opportunities) {
  const roles = new Map();
  for (const o of opportunities) {
    for (const m of o.committee) {
      const list = roles.get(m.contact.id) || [];
      const role = m.role || "member";
      if (!list.includes(role)) list.push(role);
      roles.set(m.contact.id, list);
    }
  }
  return roles;
}

function actionRow(action, onChanged, fresh) {
  const status = el("span", { class: `status ${action.status}`, "data-testid": "action-status" }, statusText(action.status));
  const row = el("li", { class: fresh ? "action fresh" : "action", "data-testid": "action", dataset: { id: action.id } },
    el("div", { class: "action-head" },
      el("strong", {}, humanize(action.kind || "action")),
      action.policy ? el("span", { class: "muted" }, ` · ${humanize(action.policy)}`) : null,
      status),
    action.note ? el("div", {}, action.note) : null,
    el("div", { class: "muted small" },
      [action.createdAt ? `proposed ${timeAgo(action.createdAt)}` : null,
        action.scoreValue !== null && action.scoreValue !== undefined ? `at intent ${scoreText(action.scoreValue)}` : null,
        action.decision ? `${action.decision} by ${action.decidedBy || "someone"} (${humanize(action.reasonCode)})` : null]
        .filter(Boolean).join(" · ")));
  if (action.status === "pending_approval") row.append(decisionForm(action, onChanged));
  return row;
}

function decisionForm(action, onChanged) {
  const message = el("span", { class: "form-error", role: "alert" });
  const reason = el("select", { "aria-label": "Reason", "data-testid": "reason", onchange: () => { message.textContent = ""; } });
  const choose = (kind) => {
    reason.replaceChildren(el("option", { value: "" }, kind === "approve" ? "Why approve?" : "Why reject?"),
      ...REASONS[kind].map((code) => el("option", { value: code }, humanize(code))));
    form.dataset.kind = kind;
    form.hidden = false;
    buttons.hidden = true;
    confirm.textContent = kind === "approve" ? "Confirm approval" : "Confirm rejection";
    reason.focus();
  };
  const confirm = el("button", { class: "primary", "data-testid": "confirm-decision", onclick: async () => {
    if (!reason.value) {
      message.textContent = "Choose a reason.";
      return;
    }
    confirm.disabled = true;
    try {
      const data = await gql(form.dataset.kind === "approve" ? APPROVE : REJECT, { id: action.id, reason: reason.value });
      const result = data.approveAction || data.rejectAction;
      if (result.__typename !== "Action") throw new Error(result.message);
      onChanged(result);
    } catch (err) {
      message.textContent = err.message;
      confirm.disabled = false;
    }
  } });
  const form = el("div", { class: "decision-form", hidden: true }, reason, confirm,
    el("button", { class: "link", onclick: () => { form.hidden = true; buttons.hidden = false; message.textContent = ""; } }, "Cancel"),
    message);
  const buttons = el("div", { class: "decision-buttons" },
    el("button", { class: "primary", "data-testid": "approve", onclick: () => choose("approve") }, "Approve…"),
    el("button", { class: "secondary", "data-testid": "reject", onclick: () => choose("reject") }, "Reject…"));
  return el("div", { class: "decision" }, buttons, form);
}
