// The graph view's drawing: a Cytoscape.js canvas of a neighbourhood that grows as nodes are expanded.

import { scoreColor, scoreText } from "./format.js";
import { FONTS, FONT_FAMILY, GAP, MAX_LABEL_WIDTH, NARROW_WIDTH, SIDES, placeLabels } from "./labels.js";
import { radialPositions, spacingOf } from "./layout.js";

// The most nodes the view holds; each expansion asks the API for at most EXPAND_LIMIT more.
export const MAX_NODES = 1000;
export const EXPAND_LIMIT = 200;
// Nodes added per frame when drawing a big neighbourhood.
const CHUNK = 250;
// Milliseconds after the last pan or zoom before the names are placed again.
const SETTLE = 90;

const SCORED = new Set(["Account", "Contact", "Opportunity"]);
const LABELLED = new Set(["Account", "Contact", "Opportunity", "User", "Product", "Campaign"]);
const SIZE = { Account: 34, Opportunity: 24, Contact: 20, User: 20, Product: 18, Campaign: 18 };
const SHAPE = {
  Account: "round-rectangle", Contact: "ellipse", Opportunity: "diamond", Activity: "triangle", User: "hexagon",
  Action: "tag", ScoreChange: "vee", Product: "barrel", Campaign: "star", ModelVersion: "octagon",
};
export const LEGEND = ["Account", "Contact", "Opportunity", "Activity", "Action", "User"];

/**
 * The style at `zoom`: names keep their screen size (font sizes, gaps and widths are divided by the zoom), and
 * a node shows its name only with a side class (`side-r`, ...) given by the label placement (labels.js).
 */
function styleAt(zoom) {
  const px = (v) => v / zoom;
  const font = (f) => ({ "font-size": px(f.size), "font-weight": f.weight });
  const style = [
    { selector: "node", style: {
      "background-color": "data(color)", shape: "data(shape)", width: "data(size)", height: "data(size)",
      "border-width": 1, "border-color": "#52606d", label: "", color: "#1f2933", "font-family": FONT_FAMILY,
      "text-outline-color": "#ffffff", "text-outline-width": px(2), "text-wrap": "ellipsis",
      "text-max-width": px(MAX_LABEL_WIDTH), "min-zoomed-font-size": 0, ...font(FONTS.Contact),
    } },
    // Named kinds are drawn above the small unnamed ones (activities, actions), so their names are too.
    { selector: 'node[label = "Account"], node[label = "Opportunity"], node[label = "User"], node[label = "Contact"], '
      + 'node[label = "Product"], node[label = "Campaign"]', style: { "z-index": 2 } },
    { selector: 'node[label = "Account"]', style: font(FONTS.Account) },
    { selector: 'node[label = "Opportunity"], node[label = "User"]', style: font(FONTS.Opportunity) },
    { selector: "node.expanded", style: { "border-width": 2, "border-color": "#1f2933" } },
    { selector: "node.start", style: { "border-width": 4, "border-color": "#102a43", "z-index": 3, ...font(FONTS.start) } },
    { selector: "node:selected", style: { "overlay-color": "#2680c2", "overlay-opacity": 0.25 } },
    { selector: "edge", style: { width: 1, "line-color": "#bcccdc", "curve-style": "haystack", opacity: 0.8 } },
  ];
  for (const [side, [halign, valign]] of Object.entries(SIDES)) {
    style.push({ selector: `node.side-${side}`, style: {
      label: "data(caption)", "text-halign": halign, "text-valign": valign,
      "text-margin-x": halign === "right" ? px(GAP) : halign === "left" ? -px(GAP) : 0,
      "text-margin-y": valign === "bottom" ? px(GAP) : valign === "top" ? -px(GAP) : 0,
    } });
  }
  style.push({ selector: "node.narrow", style: { "text-max-width": px(NARROW_WIDTH) } });
  return style;
}

const SIDE_CLASSES = `${Object.keys(SIDES).map((side) => `side-${side}`).join(" ")} narrow`;

function nodeData(node) {
  const scored = SCORED.has(node.label);
  return {
    id: node.id, label: node.label, name: node.name || node.label, score: node.score, depth: node.depth,
    color: scored ? scoreColor(node.score) : "#e4e7eb",
    shape: SHAPE[node.label] || "ellipse",
    size: SIZE[node.label] || 12,
    caption: LABELLED.has(node.label) ? (node.name || "") : "",
  };
}

function edgeId(edge) {
  return `${edge.source}|${edge.type}|${edge.target}`;
}

/** The neighbourhood drawn in `container`; `onOpen(node)` on double-click, `onHover(node|null, pos)` on hover. */
export class GraphView {
  constructor(container, { onOpen, onHover, onSelect }) {
    this.cy = window.cytoscape({
      container, style: styleAt(1), minZoom: 0.05, maxZoom: 4, wheelSensitivity: 0.3,
      boxSelectionEnabled: false, textureOnViewport: true, hideEdgesOnViewport: true, pixelRatio: 1,
    });
    this.styledZoom = 1;
    this.sides = new Map();
    this.focus = null;
    this.expanded = new Set();
    this.cy.on("dbltap", "node", (e) => onOpen && onOpen(e.target.data()));
    this.cy.on("tap", "node", (e) => {
      this.focus = e.target.id();
      this.placeNames();
      if (onSelect) onSelect(e.target.data());
    });
    this.cy.on("mouseover", "node", (e) => onHover && onHover(e.target.data(), e.renderedPosition));
    this.cy.on("mouseout", "node", () => onHover && onHover(null));
    this.cy.on("pan zoom", () => onHover && onHover(null));
    this.cy.on("viewport resize", () => {
      clearTimeout(this.settle);
      this.settle = setTimeout(() => !this.cy.destroyed() && this.placeNames(), SETTLE);
    });
  }

  /** Restyle for the current zoom when it changed (a pass over every element); returns the zoom. */
  restyle() {
    const zoom = this.cy.zoom();
    if (Math.abs(zoom - this.styledZoom) > 1e-6 * zoom) {
      this.cy.style().fromJson(styleAt(zoom)).update();
      this.styledZoom = zoom;
    }
    return zoom;
  }

  /**
   * Show the names that fit (labels.js) at the current zoom and pan: restyle for the zoom when it changed,
   * then move only the names whose side changed.
   */
  placeNames() {
    const zoom = this.restyle();
    const start = this.cy.nodes(".start");
    const center = start.nonempty() ? start.renderedPosition() : { x: this.cy.width() / 2, y: this.cy.height() / 2 };
    const nodes = this.cy.nodes().map((n) => {
      const p = n.renderedPosition();
      return { id: n.id(), label: n.data("label"), name: n.data("caption"), score: n.data("score"), x: p.x, y: p.y,
        size: n.data("size") * zoom, start: n.hasClass("start"), focus: n.id() === this.focus };
    });
    const sides = placeLabels(nodes, center, this.cy.width(), this.cy.height());
    this.cy.batch(() => {
      this.cy.nodes().forEach((n) => {
        const side = sides.get(n.id()) || null;
        if ((this.sides.get(n.id()) || null) === side) return;
        n.removeClass(SIDE_CLASSES);
        if (side) n.addClass(`side-${side}`); // "r narrow" adds side-r and narrow
      });
    });
    this.sides = sides;
  }

  get size() {
    return this.cy.nodes().length;
  }

  /** Replace the drawing with a neighbourhood; resolves with milliseconds until the first frame is drawn. */
  show(neighborhood) {
    const started = performance.now();
    this.cy.elements().remove();
    this.expanded = new Set([neighborhood.start]);
    const nodes = neighborhood.nodes.slice(0, MAX_NODES);
    const kept = new Set(nodes.map((n) => n.id));
    const edges = neighborhood.edges.filter((e) => kept.has(e.source) && kept.has(e.target));
    // Positions come first and go in with the nodes: no layout pass, no second styling pass.
    const positions = radialPositions(nodes, edges, neighborhood.start);
    this.sides = new Map();
    this.focus = null;
    // Inner rings first, a chunk per frame, so a big neighbourhood never freezes the page for long.
    const radius = (n) => Math.hypot(positions.get(n.id).x, positions.get(n.id).y);
    const queue = [...nodes].sort((p, q) => radius(p) - radius(q));
    const pending = { edges, start: neighborhood.start };
    // Zoom first, so the nodes go in styled for it (restyling them afterwards would cost a pass over all).
    this.fitPositions(positions);
    this.restyle();
    this.addChunk(queue.splice(0, CHUNK), positions, pending);
    this.firstCount = this.size;
    this.placeNames();
    const first = this.firstFrame(started);
    this.complete = (async () => {
      await first;
      while (queue.length && !this.cy.destroyed()) {
        this.addChunk(queue.splice(0, CHUNK), positions, pending);
        if (!queue.length) this.placeNames();
        await this.firstFrame(started);
      }
      return performance.now() - started;
    })();
    return first;
  }

  addChunk(nodes, positions, pending) {
    this.cy.batch(() => {
      this.cy.add(nodes.map((n) => ({ group: "nodes", data: nodeData(n), position: { ...positions.get(n.id) },
        classes: n.id === pending.start ? "start expanded" : "" })));
      const later = [];
      const ready = [];
      for (const e of pending.edges) {
        (this.cy.getElementById(e.source).nonempty() && this.cy.getElementById(e.target).nonempty() ? ready : later).push(e);
      }
      this.cy.add(ready.map((e) => ({ group: "edges", data: { id: edgeId(e), source: e.source, target: e.target, type: e.type } })));
      pending.edges = later;
    });
  }

  /** Fit the drawing from the node positions alone (Cytoscape's own fit measures every label first). */
  fitPositions(positions, padding = { x: 110, y: 45 }) {
    let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const { x, y } of positions.values()) {
      x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
    }
    const width = this.cy.width();
    const height = this.cy.height();
    const zoom = Math.max(this.cy.minZoom(), Math.min(1.3, (width - 2 * padding.x) / Math.max(1, x1 - x0),
      (height - 2 * padding.y) / Math.max(1, y1 - y0)));
    this.cy.viewport({ zoom, pan: { x: width / 2 - zoom * (x0 + x1) / 2, y: height / 2 - zoom * (y0 + y1) / 2 } });
  }

  /** Add an expansion of `centerId` around it; returns how many nodes were new. */
  merge(centerId, neighborhood) {
    this.expanded.add(centerId);
    const center = this.cy.getElementById(centerId);
    const origin = center.nonempty() ? center.position() : { x: 0, y: 0 };
    const room = MAX_NODES - this.size;
    const fresh = neighborhood.nodes.filter((n) => this.cy.getElementById(n.id).empty()).slice(0, Math.max(0, room));
    const ring = Math.max(90, fresh.reduce((sum, n) => sum + spacingOf(n), 0) / (2 * Math.PI));
    this.cy.batch(() => {
      fresh.forEach((n, i) => {
        const angle = (2 * Math.PI * i) / Math.max(1, fresh.length);
        this.cy.add({ group: "nodes", data: nodeData(n),
          position: { x: origin.x + ring * Math.cos(angle), y: origin.y + ring * Math.sin(angle) } });
      });
      for (const e of neighborhood.edges) {
        const id = edgeId(e);
        if (this.cy.getElementById(id).empty() && this.cy.getElementById(e.source).nonempty()
            && this.cy.getElementById(e.target).nonempty()) {
          this.cy.add({ group: "edges", data: { id, source: e.source, target: e.target, type: e.type } });
        }
      }
      center.addClass("expanded");
    });
    this.fitPositions(new Map(this.cy.nodes().map((n) => [n.id(), n.position()])));
    this.placeNames();
    return fresh.length;
  }

  unexpanded() {
    return this.cy.nodes().filter((n) => !this.expanded.has(n.id())).map((n) => n.id());
  }

  /** Place every node on the radial layout again (after expansions) and fit the drawing. */
  layout(startId) {
    const nodes = this.cy.nodes().map((n) => ({ id: n.id(), label: n.data("label"), name: n.data("name") }));
    const edges = this.cy.edges().map((e) => ({ source: e.data("source"), target: e.data("target") }));
    const positions = radialPositions(nodes, edges, startId);
    this.cy.batch(() => this.cy.nodes().forEach((n) => n.position({ ...(positions.get(n.id()) || { x: 0, y: 0 }) })));
    this.fitPositions(positions);
    this.placeNames();
  }

  fit() {
    this.fitPositions(new Map(this.cy.nodes().map((n) => [n.id(), n.position()])));
    this.placeNames();
  }

  /** Milliseconds from `started` to the first frame Cytoscape draws after it. */
  firstFrame(started) {
    return new Promise((resolve) => {
      this.cy.one("render", () => requestAnimationFrame(() => resolve(performance.now() - started)));
      this.cy.forceRender ? this.cy.forceRender() : this.cy.resize();
    });
  }

  destroy() {
    clearTimeout(this.settle);
    this.cy.destroy();
  }
}

export function hoverText(node) {
  const score = SCORED.has(node.label) ? ` · intent ${scoreText(node.score)}` : "";
  return `${node.label}: ${node.name}${score}`;
}
