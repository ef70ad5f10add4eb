"""Fast, columnar export of the whole CRM graph from Neo4j into numpy arrays (one export, many cutoffs).

Each label and each relationship type comes out of Neo4j as one record of long parallel lists; the
internal node ids in relationship lists are mapped to row numbers with a dense numpy lookup table.
Times stay as epoch seconds so that any cutoff can later be applied in numpy without asking Neo4j again.
"""

from __future__ import annotations

import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kgcrm.graph.driver import Graph
from kgcrm.graph.model import Label, RelType
from kgcrm.graph.queries import ml as q

logger = logging.getLogger(__name__)

# What is exported per label: (property, kind). Kinds: number, bool, time, string.
# Opportunity.stage and close_date are left out on purpose: they are the deal's final state and
# would leak the outcome into any cutoff before the close; is_won is only read next to closed_at.
NODE_COLUMNS: dict[Label, tuple[tuple[str, str], ...]] = {
    Label.ACCOUNT: (
        ("employees", "number"),
        ("annual_revenue", "number"),
        ("year_established", "number"),
        ("industry", "string"),
        ("region", "string"),
    ),
    Label.CONTACT: (("seniority", "string"),),
    Label.OPPORTUNITY: (("amount", "number"), ("closed_at", "time"), ("is_won", "bool")),
    Label.ACTIVITY: (("at", "time"), ("type", "string"), ("weight", "number")),
    Label.USER: (("role", "string"), ("region", "string")),
    Label.PRODUCT: (("list_price", "number"), ("series", "string")),
    Label.CAMPAIGN: (("type", "string"),),
}

# (source, type, target, start property, end property): the relationships the model sees.
REL_SPECS: tuple[tuple[Label, RelType, Label, str | None, str | None], ...] = (
    (Label.CONTACT, RelType.WORKS_AT, Label.ACCOUNT, "since", "until"),
    (Label.ACCOUNT, RelType.SUBSIDIARY_OF, Label.ACCOUNT, None, None),
    (Label.OPPORTUNITY, RelType.FOR_ACCOUNT, Label.ACCOUNT, None, None),
    (Label.CONTACT, RelType.ROLE_IN, Label.OPPORTUNITY, None, None),
    (Label.USER, RelType.OWNS, Label.ACCOUNT, None, None),
    (Label.USER, RelType.OWNS, Label.OPPORTUNITY, None, None),
    (Label.USER, RelType.OWNS, Label.CONTACT, None, None),
    (Label.USER, RelType.REPORTS_TO, Label.USER, None, None),
    (Label.OPPORTUNITY, RelType.INCLUDES, Label.PRODUCT, None, None),
    (Label.OPPORTUNITY, RelType.INFLUENCED_BY, Label.CAMPAIGN, None, None),
    (Label.CONTACT, RelType.MEMBER_OF, Label.CAMPAIGN, "joined_at", None),
    (Label.CONTACT, RelType.KNOWS, Label.CONTACT, "since", None),
    (Label.ACTIVITY, RelType.PERFORMED_BY, Label.CONTACT, None, None),
    (Label.ACTIVITY, RelType.PERFORMED_BY, Label.USER, None, None),
    (Label.ACTIVITY, RelType.ABOUT, Label.ACCOUNT, None, None),
    (Label.ACTIVITY, RelType.ABOUT, Label.OPPORTUNITY, None, None),
    (Label.ACTIVITY, RelType.ABOUT, Label.CAMPAIGN, None, None),
)

EdgeKey = tuple[Label, RelType, Label]

# Relationships whose kind (a string property) is exported too: a buying-committee role says who a
# contact was on a deal (the champion of a won deal is a different person from one of its users).
REL_KINDS: dict[EdgeKey, str] = {(Label.CONTACT, RelType.ROLE_IN, Label.OPPORTUNITY): "role"}


@dataclass
class NodeTable:
    """One label's nodes: kgcrm ids, created_at (epoch s, NaN unknown) and exported columns."""

    label: Label
    neo_ids: np.ndarray
    ids: np.ndarray
    created_at: np.ndarray
    numbers: dict[str, np.ndarray] = field(default_factory=dict)
    strings: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class EdgeTable:
    """One relationship type between two labels as row numbers into the two node tables."""

    key: EdgeKey
    src: np.ndarray
    dst: np.ndarray
    start: np.ndarray
    end: np.ndarray
    # The relationship's kind (REL_KINDS), '' unknown; None where the type has no kind.
    kind: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.src)


@dataclass
class GraphExport:
    """The whole graph as numpy tables; the input of every point-in-time snapshot."""

    nodes: dict[Label, NodeTable]
    edges: dict[EdgeKey, EdgeTable]

    @property
    def num_elements(self) -> int:
        return sum(len(t) for t in self.nodes.values()) + sum(len(t) for t in self.edges.values())

    def index_of(self, label: Label) -> dict[str, int]:
        """kgcrm id -> row number for one label (built on demand; used for small id lists)."""
        return {node_id: i for i, node_id in enumerate(self.nodes[label].ids.tolist())}


def _read_one(graph: Graph, query: str) -> dict[str, Any]:
    def work(tx: Any) -> dict[str, Any]:
        record = tx.run(query, nan=math.nan).single()
        return dict(record.items()) if record is not None else {}

    return graph.execute_read(work)


def export_graph(
    graph: Graph,
    labels: tuple[Label, ...] = tuple(NODE_COLUMNS),
    rel_specs: tuple[tuple[Label, RelType, Label, str | None, str | None], ...] = REL_SPECS,
    workers: int = 4,
) -> GraphExport:
    """Read every node of `labels` and every relationship of `rel_specs` between them, columnar.

    The queries run on a few sessions at once: the server evaluates one while the driver decodes another.
    """
    started = time.perf_counter()
    specs = [spec for spec in rel_specs if spec[0] in labels and spec[2] in labels]
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="export") as pool:
        node_futures = {label: pool.submit(_read_one, graph, q.export_nodes(label, NODE_COLUMNS.get(label, ())))
                        for label in labels}
        rel_futures = [pool.submit(_read_one, graph, q.export_relationships(*spec, kind=REL_KINDS.get(spec[:3])))
                       for spec in specs]
        node_records = {label: future.result() for label, future in node_futures.items()}
        rel_records = [future.result() for future in rel_futures]

    nodes: dict[Label, NodeTable] = {}
    for label, rec in node_records.items():
        table = NodeTable(
            label=label,
            neo_ids=np.asarray(rec["neo_id"], dtype=np.int64),
            ids=np.asarray(rec["id"], dtype=object),
            created_at=np.asarray(rec["created_at"], dtype=np.float64),
        )
        for prop, kind in NODE_COLUMNS.get(label, ()):
            if kind == "string":
                table.strings[prop] = np.asarray(rec[prop], dtype=object)
            else:
                table.numbers[prop] = np.asarray(rec[prop], dtype=np.float64)
        nodes[label] = table

    # Internal ids are dense-ish small integers, so a flat lookup array maps them in O(1) each.
    max_id = max((int(t.neo_ids.max()) for t in nodes.values() if len(t)), default=-1)
    ends = [(np.asarray(rec["src"], dtype=np.int64), np.asarray(rec["dst"], dtype=np.int64)) for rec in rel_records]
    max_id = max([max_id] + [int(max(a.max(initial=-1), b.max(initial=-1))) for a, b in ends])
    lookup = np.full(max_id + 2, -1, dtype=np.int64)
    for table in nodes.values():
        lookup[table.neo_ids] = np.arange(len(table), dtype=np.int64)

    edges: dict[EdgeKey, EdgeTable] = {}
    for (src, rel, dst, _, _), rec, (src_ids, dst_ids) in zip(specs, rel_records, ends):
        src_rows, dst_rows = lookup[src_ids], lookup[dst_ids]
        # The queries are separate transactions: a relationship to a node created in between is dropped.
        known = (src_rows >= 0) & (dst_rows >= 0)
        edges[(src, rel, dst)] = EdgeTable(
            key=(src, rel, dst),
            src=src_rows[known],
            dst=dst_rows[known],
            start=np.asarray(rec["start"], dtype=np.float64)[known],
            end=np.asarray(rec["end"], dtype=np.float64)[known],
            kind=np.asarray(rec["kind"], dtype=object)[known] if "kind" in rec else None,
        )
    export = GraphExport(nodes=nodes, edges=edges)
    seconds = time.perf_counter() - started
    logger.info(
        "exported %s elements in %.2f s (%.0f elements/s)",
        export.num_elements, seconds, export.num_elements / max(seconds, 1e-9),
    )
    return export
