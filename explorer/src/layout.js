// A radial layout for neighbourhoods that costs O(n log n): the start in the middle, then one ring per
// hop and kind of node (deals, people, activities, ...), each node of a later hop placed by its parent's angle.
// Force-directed layouts took seconds of frozen page for a few hundred nodes; this takes milliseconds.

// Inner rings hold the many small unnamed nodes; named ones (deals, accounts) go outside, where there is room for names.
const KIND_ORDER = ["Contact", "Activity", "Action", "ScoreChange", "ModelVersion", "Product", "Campaign", "User", "Opportunity", "Account"];
const SPACING = 16; // pixels of ring per node
// Kinds whose names are drawn need room for them.
const NAMED = new Set(["Account", "Opportunity", "User", "Product", "Campaign"]);
const NAMED_SPACING = 64;
const GAP = 55; // pixels between rings
// The first ring stays clear of the middle account and its name, however few nodes it holds.
const FIRST_RING = 110;
// Kinds with fewer nodes than this at a hop share a ring with the next kind.
const OWN_RING = 12;

/** Pixels of ring a node needs (named kinds need room for their names). */
export function spacingOf(node) {
  if (node.label === "Account") return 2 * NAMED_SPACING;
  return NAMED.has(node.label) ? NAMED_SPACING : SPACING;
}

function kindRank(label) {
  const i = KIND_ORDER.indexOf(label);
  return i < 0 ? KIND_ORDER.length : i;
}

/** Positions {id: {x, y}} for `nodes` ({id, label, name}) and `edges` ({source, target}) around `startId`. */
export function radialPositions(nodes, edges, startId) {
  const neighbours = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) {
    if (neighbours.has(e.source) && neighbours.has(e.target)) {
      neighbours.get(e.source).push(e.target);
      neighbours.get(e.target).push(e.source);
    }
  }
  // Hops and parents, breadth first; nodes the edges do not reach go one hop beyond the farthest.
  const depth = new Map([[startId, 0]]);
  const parent = new Map();
  const queue = [startId];
  for (let head = 0; head < queue.length; head++) {
    const id = queue[head];
    for (const next of neighbours.get(id) || []) {
      if (!depth.has(next)) {
        depth.set(next, depth.get(id) + 1);
        parent.set(next, id);
        queue.push(next);
      }
    }
  }
  const farthest = Math.max(0, ...depth.values());
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const levels = [];
  for (const n of nodes) {
    if (n.id === startId) continue;
    const d = depth.has(n.id) ? depth.get(n.id) : farthest + 1;
    (levels[d] = levels[d] || []).push(n);
  }

  const position = new Map([[startId, { x: 0, y: 0 }]]);
  const angle = new Map([[startId, 0]]);
  let radius = 0;
  levels.forEach((level, d) => {
    if (!level || !level.length) return;
    for (const ring of rings(level)) {
      const needed = ring.reduce((sum, n) => sum + spacingOf(n), 0);
      radius = Math.max(radius + GAP, needed / (2 * Math.PI), FIRST_RING);
      const wanted = ring.map((n) => (parent.has(n.id) && d > 1 ? angle.get(parent.get(n.id)) : null));
      if (wanted.every((a) => a === null)) {
        // One hop out: spread evenly, each kind starting at a different angle so rings do not line up.
        const offset = kindRank(ring[0].label) * 0.37;
        ring.forEach((n, i) => place(n.id, offset + (2 * Math.PI * i) / ring.length, radius));
      } else {
        // Further out: as close to the parent's angle as the spacing allows.
        const order = ring.map((n, i) => ({ n, a: wanted[i] ?? 0 })).sort((p, q) => p.a - q.a);
        let last = -Infinity;
        let lastSpacing = 0;
        const spread = order.map(({ n, a }) => {
          last = Math.max(a, last + (lastSpacing + spacingOf(n)) / 2 / radius);
          lastSpacing = spacingOf(n);
          return last;
        });
        const shift = (spread[spread.length - 1] - order[order.length - 1].a) / 2;
        order.forEach(({ n }, i) => place(n.id, spread[i] - shift, radius));
      }
    }
  });
  return position;

  function place(id, a, r) {
    angle.set(id, a);
    position.set(id, { x: r * Math.cos(a), y: r * Math.sin(a) });
  }

  // The rings of one hop: nodes grouped by kind (small groups merged), sorted by name within a ring.
  function rings(level) {
    const groups = new Map();
    for (const n of level) {
      const list = groups.get(n.label) || [];
      list.push(n);
      groups.set(n.label, list);
    }
    const ordered = [...groups.entries()].sort((a, b) => kindRank(a[0]) - kindRank(b[0]));
    const result = [];
    let pending = [];
    for (const [, list] of ordered) {
      pending = pending.concat(list);
      if (pending.length >= OWN_RING) {
        result.push(pending);
        pending = [];
      }
    }
    if (pending.length) {
      if (result.length && pending.length < OWN_RING / 2) result[result.length - 1] = result[result.length - 1].concat(pending);
      else result.push(pending);
    }
    return result.map((ring) => ring.sort((a, b) => kindRank(a.label) - kindRank(b.label)
      || String((byId.get(a.id) || a).name).localeCompare(String((byId.get(b.id) || b).name), undefined, { numeric: true })));
  }
}
