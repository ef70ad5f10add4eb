// Label placement for the graph view: which node names are drawn, and on which side of their node, so that
// no name overlaps another name or a named node and none is cut off at the canvas edge (small unnamed nodes,
// activities and actions, are drawn beneath names, whose white halo keeps them readable). Greedy by priority: the
// account in the middle first, then accounts, deals (hottest first), people of the selling side, products
// and campaigns, then contacts; each tries the side facing away from the middle first, then its neighbours
// on the compass. Names that find no free side are hidden (hover still names every node). Costs O(n) with a
// grid of screen cells, a few milliseconds for 1,000 nodes.

// Names are drawn at a fixed size on screen whatever the zoom, so zooming in spreads the nodes apart and
// makes room for more names. Pixels and weight per kind; the start node is the account in the middle.
export const FONTS = {
  start: { size: 17, weight: "bold" }, Account: { size: 15, weight: "bold" }, Opportunity: { size: 12, weight: "normal" },
  User: { size: 12, weight: "normal" }, Product: { size: 11, weight: "normal" }, Campaign: { size: 11, weight: "normal" },
  Contact: { size: 11, weight: "normal" },
};
export const FONT_FAMILY = "system-ui, -apple-system, Segoe UI, Roboto, DejaVu Sans, sans-serif"; // no quotes: Cytoscape refuses them
export const MAX_LABEL_WIDTH = 170; // screen pixels; longer names end in an ellipsis
export const NARROW_WIDTH = 90; // a long name that finds no room is tried again cut to this width
export const GAP = 3; // screen pixels between a node and its name
const OUTLINE = 2; // the white halo around names
const CELL = 64; // grid cell, screen pixels

// Sides: [text-halign, text-valign] in Cytoscape's terms, clockwise from the right (screen y points down).
export const SIDES = { r: ["right", "center"], br: ["right", "bottom"], b: ["center", "bottom"], bl: ["left", "bottom"],
  l: ["left", "center"], tl: ["left", "top"], t: ["center", "top"], tr: ["right", "top"] };
const COMPASS = ["r", "br", "b", "bl", "l", "tl", "t", "tr"];
const RANK = { Account: 1, Opportunity: 2, User: 3, Product: 4, Campaign: 4, Contact: 5 };

const widths = new Map();
let context = null;

/** The drawn width of `text` in `font` up to `max` (cached: names keep their screen size whatever the zoom). */
function textWidth(text, font, max) {
  const key = `${font.size}${font.weight}|${text}`;
  let width = widths.get(key);
  if (width === undefined) {
    context = context || document.createElement("canvas").getContext("2d");
    context.font = `${font.weight} ${font.size}px ${FONT_FAMILY}`;
    width = context.measureText(text).width;
    widths.set(key, width);
  }
  return Math.min(max, width) + 2 * OUTLINE + 3; // as Cytoscape's label box measures it
}

function fontOf(node) {
  return node.start ? FONTS.start : FONTS[node.label];
}

/** The label's box on screen [x0, y0, x1, y1] for a node at (x, y) with half-size s on `side`, from the node's
 * edge (the gap included), as Cytoscape's own label bounding box reaches. */
function box(side, x, y, s, w, h) {
  const [halign, valign] = SIDES[side];
  const [x0, x1] = halign === "center" ? [x - w / 2, x + w / 2] : halign === "right" ? [x + s, x + s + GAP + w] : [x - s - GAP - w, x - s];
  const [y0, y1] = valign === "center" ? [y - h / 2, y + h / 2] : valign === "bottom" ? [y + s, y + s + GAP + h] : [y - s - GAP - h, y - s];
  return [x0, y0, x1, y1];
}

/** The sides to try, the one facing away from (cx, cy) first; the middle node's name goes below it. */
function sidesFor(node, cx, cy) {
  if (node.start) return ["b", "t", "r", "l"];
  const angle = Math.atan2(node.y - cy, node.x - cx);
  const i = ((Math.round(angle / (Math.PI / 4)) % 8) + 8) % 8;
  return [0, 1, -1, 2, -2].map((k) => COMPASS[(i + k + 8) % 8]);
}

class Grid {
  constructor() {
    this.cells = new Map();
  }

  *keys([x0, y0, x1, y1]) {
    for (let gx = Math.floor(x0 / CELL); gx <= Math.floor(x1 / CELL); gx++) {
      for (let gy = Math.floor(y0 / CELL); gy <= Math.floor(y1 / CELL); gy++) yield `${gx},${gy}`;
    }
  }

  add(b, owner) {
    for (const key of this.keys(b)) {
      const list = this.cells.get(key);
      if (list) list.push([b, owner]);
      else this.cells.set(key, [[b, owner]]);
    }
  }

  hits(b, owner) {
    for (const key of this.keys(b)) {
      for (const [other, who] of this.cells.get(key) || []) {
        if (who !== owner && b[0] < other[2] && other[0] < b[2] && b[1] < other[3] && other[1] < b[3]) return true;
      }
    }
    return false;
  }
}

/**
 * Place names. `nodes`: [{id, label, name, score, x, y, size, start, focus}] with x, y and size in screen pixels;
 * `center`: the middle node's screen position; `width`, `height`: the canvas. Returns Map id -> side for the
 * names drawn, `side` or `side narrow` for a long name cut to NARROW_WIDTH (nodes without a name, off screen
 * or without room are absent).
 */
export function placeLabels(nodes, center, width, height) {
  const grid = new Grid();
  const named = [];
  for (const n of nodes) {
    const s = n.size / 2;
    if (n.x + s < 0 || n.y + s < 0 || n.x - s > width || n.y - s > height) continue;
    if (!n.start && !RANK[n.label]) continue; // small unnamed nodes (activities, actions) may sit under a name
    grid.add([n.x - s, n.y - s, n.x + s, n.y + s], n.id);
    if (n.name) named.push(n);
  }
  named.sort((p, q) => (q.focus ? 1 : 0) - (p.focus ? 1 : 0) || (q.start ? 1 : 0) - (p.start ? 1 : 0)
    || RANK[p.label] - RANK[q.label] || (q.score ?? -1) - (p.score ?? -1)
    || String(p.name).localeCompare(String(q.name), undefined, { numeric: true }));
  const placed = new Map();
  for (const n of named) {
    const font = fontOf(n);
    const h = font.size * 1.25 + 2 * OUTLINE;
    const inside = (b) => b[0] >= 0 && b[1] >= 0 && b[2] <= width && b[3] <= height;
    const sides = sidesFor(n, center.x, center.y);
    const fits = (w) => (side) => {
      const b = box(side, n.x, n.y, n.size / 2, w, h);
      return inside(b) && !grid.hits(b, n.id);
    };
    let w = textWidth(n.name, font, MAX_LABEL_WIDTH);
    let chosen = sides.find(fits(w));
    const narrow = textWidth(n.name, font, NARROW_WIDTH);
    if (!chosen && narrow < w) {
      chosen = sides.find(fits(narrow));
      if (chosen) {
        w = narrow;
        chosen = `${chosen} narrow`;
      }
    }
    // The middle account is always named (above any node; zoomed far out its neighbours crowd it).
    if (!chosen && n.start) chosen = sides.find((side) => inside(box(side, n.x, n.y, n.size / 2, w, h)));
    if (chosen) {
      grid.add(box(chosen.split(" ")[0], n.x, n.y, n.size / 2, w, h), n.id);
      placed.set(n.id, chosen);
    }
  }
  return placed;
}
