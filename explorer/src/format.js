// Small helpers: DOM building (text is never parsed as HTML), score colours, times, sparklines and the history chart.

const SVG_NS = "http://www.w3.org/2000/svg";

/** el("div", {class: "x", onclick: f}, child, "text", [more]) */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  append(node, children);
  return node;
}

// Low intent is cool blue, middling amber, hot red; unscored grey.
const STOPS = [[0, [78, 121, 167]], [0.5, [242, 177, 52]], [1, [209, 73, 91]]];

export function scoreColor(score) {
  if (score === null || score === undefined) return "#c5ccd4";
  const s = Math.max(0, Math.min(1, score));
  const i = s <= 0.5 ? 0 : 1;
  const [a, ca] = STOPS[i];
  const [b, cb] = STOPS[i + 1];
  const t = (s - a) / (b - a);
  const c = ca.map((v, k) => Math.round(v + (cb[k] - v) * t));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

export function scoreText(score) {
  return score === null || score === undefined ? "–" : Math.round(score * 100).toString();
}

export function scoreBadge(score, big = false) {
  return el("span", { class: big ? "score-badge big" : "score-badge", style: `background:${scoreColor(score)}`,
    title: score === null || score === undefined ? "not scored yet" : `intent score ${score.toFixed(3)}` },
  scoreText(score));
}

export function humanize(token) {
  if (!token) return "";
  if (/\s/.test(token)) return token;
  const words = token.replace(/[_-]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** A driver as a sentence: the model's own sentence, or its feature and detail. */
export function driverText(driver) {
  if (!driver) return "";
  const base = humanize(driver.feature);
  return driver.detail ? `${base}: ${driver.detail}` : base;
}

export function topDriver(score) {
  const drivers = (score && score.drivers) || [];
  return [...drivers].sort((x, y) => Math.abs(y.contribution || 0) - Math.abs(x.contribution || 0))[0] || null;
}

export function timeAgo(iso) {
  if (!iso) return "";
  const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
  if (seconds < 0) return dateText(iso);
  if (seconds < 60) return "just now";
  let text = "";
  for (const [size, unit] of [[60, "min"], [3600, "h"], [86400, "d"], [2592000, "mo"], [31536000, "y"]]) {
    if (seconds >= size) text = `${Math.floor(seconds / size)} ${unit} ago`;
  }
  return text;
}

export function dateText(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

export function money(amount) {
  if (amount === null || amount === undefined) return "–";
  return new Intl.NumberFormat(undefined, { style: "currency", currency: "USD", maximumFractionDigits: 0 }).format(amount);
}

/** The score series oldest first: each change's new score, ending at the current score. */
export function scoreSeries(history, current) {
  const oldest = (history || []).length ? history[history.length - 1].oldScore : null;
  const points = [oldest, ...[...(history || [])].reverse().map((c) => c.newScore)].filter((v) => v !== null && v !== undefined);
  if (current !== null && current !== undefined && (points.length === 0 || points[points.length - 1] !== current)) {
    points.push(current);
  }
  return points;
}

export function sparkline(values, width = 72, height = 22) {
  const box = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "sparkline", role: "img" });
  if (!values.length) {
    box.append(svg("line", { x1: 2, x2: width - 2, y1: height / 2, y2: height / 2, class: "spark-none" }));
    box.setAttribute("aria-label", "no score history");
    return box;
  }
  const xs = values.map((_, i) => (values.length === 1 ? width - 4 : 2 + (i * (width - 6)) / (values.length - 1)));
  const ys = values.map((v) => height - 3 - v * (height - 6));
  if (values.length > 1) {
    box.append(svg("polyline", { points: xs.map((x, i) => `${x},${ys[i]}`).join(" "), class: "spark-line" }));
  }
  const last = values[values.length - 1];
  box.append(svg("circle", { cx: xs[xs.length - 1], cy: ys[ys.length - 1], r: 2.5, fill: scoreColor(last) }));
  const trend = values.length > 1 ? last - values[0] : 0;
  box.setAttribute("aria-label", `score trend ${trend >= 0 ? "up" : "down"} ${Math.abs(trend * 100).toFixed(0)} points`);
  return box;
}

/** The score history as a line chart with a 0–100 axis and a dot (with a tooltip) per change. */
export function historyChart(history, current, width = 420, height = 170) {
  const changes = [...(history || [])].reverse().filter((c) => c.newScore !== null && c.changedAt);
  if (changes.length === 1 && changes[0].oldScore !== null && changes[0].oldScore !== undefined) {
    // One change is drawn as a line from the score before it (a day earlier, without a dot).
    const before = new Date(new Date(changes[0].changedAt).getTime() - 86400000).toISOString();
    changes.unshift({ newScore: changes[0].oldScore, changedAt: before, before: true });
  }
  const pad = { l: 30, r: 10, t: 10, b: 24 };
  const box = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "history-chart", role: "img",
    "aria-label": `score history, ${changes.length} changes` });
  const plotW = width - pad.l - pad.r;
  const plotH = height - pad.t - pad.b;
  for (const tick of [0, 0.5, 1]) {
    const y = pad.t + plotH * (1 - tick);
    box.append(svg("line", { x1: pad.l, x2: width - pad.r, y1: y, y2: y, class: "grid" }));
    box.append(svg("text", { x: pad.l - 6, y: y + 4, class: "axis", "text-anchor": "end" }, String(tick * 100)));
  }
  if (!changes.length) {
    box.append(svg("text", { x: width / 2, y: height / 2, class: "axis", "text-anchor": "middle" },
      current === null || current === undefined ? "not scored yet" : "no changes recorded yet"));
    return box;
  }
  const times = changes.map((c) => new Date(c.changedAt).getTime());
  const t0 = Math.min(...times);
  const t1 = Math.max(...times);
  const x = (t) => pad.l + (t1 === t0 ? plotW : ((t - t0) / (t1 - t0)) * plotW);
  const y = (v) => pad.t + plotH * (1 - v);
  box.append(svg("polyline", { points: changes.map((c, i) => `${x(times[i])},${y(c.newScore)}`).join(" "), class: "history-line" }));
  changes.forEach((c, i) => {
    if (c.before) return;
    box.append(svg("circle", { cx: x(times[i]), cy: y(c.newScore), r: 3.5, fill: scoreColor(c.newScore) },
      svg("title", {}, `${dateText(c.changedAt)}: ${scoreText(c.oldScore)} → ${scoreText(c.newScore)}` +
        (c.reason ? ` (${c.reason})` : "") + (c.model ? `, model ${c.model}` : ""))));
  });
  box.append(svg("text", { x: pad.l, y: height - 6, class: "axis" }, dateText(changes[0].changedAt)));
  if (changes.length > 1) {
    box.append(svg("text", { x: width - pad.r, y: height - 6, class: "axis", "text-anchor": "end" },
      dateText(changes[changes.length - 1].changedAt)));
  }
  return box;
}

export function statusText(status) {
  return { pending_approval: "awaiting approval", pending: "due for delivery", holdout: "held out (control group)",
    dead_letter: "delivery failed" }[status]
    || humanize(status || "unknown");
}
