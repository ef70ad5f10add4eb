"""Prediction tasks: which entities are scored at a cutoff T and what their label is in (T, T + H].

`account_intent` and `opportunity_win` are computed from the export in numpy; a `custom` task is
defined by two Cypher queries in a YAML/JSON file, run with `$cutoff` (a datetime) and `$horizon`
(a duration) as parameters.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import InvalidInput
from kgcrm.graph.model import Label, RelType
from kgcrm.ml.export import GraphExport

DAY = 86_400.0
TASKS = ("account_intent", "opportunity_win", "custom")


@dataclass(frozen=True)
class Task:
    """A task: its name, the label of the scored entities and, for `custom`, its two queries."""

    name: str
    target: Label
    horizon_days: float = 30.0
    entity_query: str | None = None
    label_query: str | None = None


@dataclass
class TaskRows:
    """The scored entities at one cutoff: row numbers into the target's node table, and labels."""

    cutoff: float
    index: np.ndarray
    label: np.ndarray


def load_task(name: str, horizon_days: float = 30.0, config: Path | None = None) -> Task:
    """The named task; `custom` reads its target label and two queries from `config`."""
    if name == "account_intent":
        return Task(name, Label.ACCOUNT, horizon_days)
    if name == "opportunity_win":
        return Task(name, Label.OPPORTUNITY, horizon_days)
    if name != "custom":
        raise InvalidInput(f"--task {name!r} is not one of {', '.join(TASKS)}")
    if config is None:
        raise InvalidInput("--task custom needs --config FILE with target, entity_query and label_query")
    try:
        text = Path(config).read_text()
        raw = json.loads(text) if str(config).endswith(".json") else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{config}: cannot be read as a task config: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidInput(f"{config}: a task config is a mapping with target, entity_query and label_query")
    missing = [key for key in ("target", "entity_query", "label_query") if not raw.get(key)]
    if missing:
        raise InvalidInput(f"{config}: missing {', '.join(missing)}")
    try:
        target = Label(raw["target"])
    except ValueError:
        raise InvalidInput(f"{config}: target {raw['target']!r} is not a label of the graph model") from None
    return Task(
        "custom", target, float(raw.get("horizon_days", horizon_days)),
        entity_query=str(raw["entity_query"]), label_query=str(raw["label_query"]),
    )


def monthly_cutoffs(first: dt.datetime, count: int, step_days: float) -> list[float]:
    """`count` cutoffs `step_days` apart starting at `first`, as epoch seconds."""
    start = first.replace(tzinfo=first.tzinfo or dt.UTC).timestamp()
    return [start + i * step_days * DAY for i in range(count)]


def task_rows(task: Task, export: GraphExport, cutoff: float, graph: Graph | None = None) -> TaskRows:
    """The entities scored at `cutoff` and their labels from (cutoff, cutoff + horizon]."""
    horizon = task.horizon_days * DAY
    if task.name == "account_intent":
        return _account_intent(export, cutoff, horizon)
    if task.name == "opportunity_win":
        return _opportunity_win(export, cutoff, horizon)
    if graph is None:
        raise InvalidInput("a custom task needs the graph to run its queries")
    return _custom(task, export, cutoff, graph)


def scoring_index(task: Task, export: GraphExport, cutoff: float, graph: Graph | None = None) -> np.ndarray:
    """Rows of the target's node table to score at `cutoff` (no label needed): what exists and is still open."""
    if task.name == "account_intent":
        return np.flatnonzero(_existed(export.nodes[Label.ACCOUNT].created_at, cutoff))
    if task.name == "opportunity_win":
        opps = export.nodes[Label.OPPORTUNITY]
        return np.flatnonzero(_existed(opps.created_at, cutoff) & ~(opps.numbers["closed_at"] <= cutoff))
    if graph is None:
        raise InvalidInput("a custom task needs the graph to run its queries")
    params = {"cutoff": dt.datetime.fromtimestamp(cutoff, dt.UTC), "horizon": dt.timedelta(days=task.horizon_days)}
    rows_of = export.index_of(task.target)
    entities = _run_custom(graph, task.entity_query or "", params, "entity_query", ("id",))
    alive = _existed(export.nodes[task.target].created_at, cutoff)
    return np.asarray(sorted({rows_of[r["id"]] for r in entities if r["id"] in rows_of and alive[rows_of[r["id"]]]}), dtype=np.int64)


def _existed(created_at: np.ndarray, cutoff: float) -> np.ndarray:
    # A node without created_at is reference data that has always been there.
    return np.isnan(created_at) | (created_at < cutoff)


def _account_intent(export: GraphExport, cutoff: float, horizon: float) -> TaskRows:
    accounts = export.nodes[Label.ACCOUNT]
    index = np.flatnonzero(_existed(accounts.created_at, cutoff))
    label = np.zeros(len(accounts), dtype=np.float32)
    opps = export.nodes.get(Label.OPPORTUNITY)
    link = export.edges.get((Label.OPPORTUNITY, RelType.FOR_ACCOUNT, Label.ACCOUNT))
    if opps is not None and link is not None:
        opened = opps.created_at[link.src]
        inside = (opened > cutoff) & (opened <= cutoff + horizon)
        label[link.dst[inside]] = 1.0
    return TaskRows(cutoff, index, label[index])


def _opportunity_win(export: GraphExport, cutoff: float, horizon: float) -> TaskRows:
    opps = export.nodes[Label.OPPORTUNITY]
    closed_at = opps.numbers["closed_at"]
    # Open at the cutoff, and closed inside the horizon: the outcome is known only after the close.
    open_at_cutoff = _existed(opps.created_at, cutoff) & ~(closed_at <= cutoff)
    closes_inside = (closed_at > cutoff) & (closed_at <= cutoff + horizon)
    index = np.flatnonzero(open_at_cutoff & closes_inside)
    label = (opps.numbers["is_won"][index] == 1.0).astype(np.float32)
    return TaskRows(cutoff, index, label)


def _custom(task: Task, export: GraphExport, cutoff: float, graph: Graph) -> TaskRows:
    params = {
        "cutoff": dt.datetime.fromtimestamp(cutoff, dt.UTC),
        "horizon": dt.timedelta(days=task.horizon_days),
    }
    rows_of = export.index_of(task.target)
    entities = _run_custom(graph, task.entity_query or "", params, "entity_query", ("id",))
    labels = _run_custom(graph, task.label_query or "", params, "label_query", ("id", "label"))
    label_by_id = {row["id"]: float(bool(row["label"])) for row in labels}
    index = np.asarray(sorted({rows_of[row["id"]] for row in entities if row["id"] in rows_of}), dtype=np.int64)
    ids = export.nodes[task.target].ids[index]
    label = np.asarray([label_by_id.get(node_id, 0.0) for node_id in ids], dtype=np.float32)
    return TaskRows(cutoff, index, label)


def _run_custom(
    graph: Graph, query: str, params: dict[str, Any], what: str, columns: tuple[str, ...]
) -> list[dict[str, Any]]:
    # Run in a read transaction: a task config must not be able to change the graph.
    def work(tx: Any) -> list[dict[str, Any]]:
        return [record.data() for record in tx.run(query, params)]

    rows = graph.execute_read(work)
    if rows and not set(columns) <= set(rows[0]):
        raise InvalidInput(f"the custom task's {what} must return columns {', '.join(columns)}")
    return rows
