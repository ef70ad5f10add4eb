"""The relationships the GNN derives from a snapshot (key roles, newcomers, sister accounts) are point in time
(no database needed: a hand-made export)."""

from __future__ import annotations

import numpy as np

from kgcrm.graph.model import Label, RelType
from kgcrm.ml.candidate import window_cutoffs
from kgcrm.ml.dataset import derived_edges, split_cutoffs
from kgcrm.ml.export import EdgeTable, GraphExport, NodeTable
from kgcrm.ml.features import DAY, take_snapshot

NAN = np.nan
T = 1_000 * DAY


def _nodes(label: Label, n: int, created: float = 0.0) -> NodeTable:
    return NodeTable(label, np.arange(n), np.array([f"{label.value}-{i}" for i in range(n)], dtype=object),
                     np.full(n, created))


def _edges(key, src, dst, start=None, end=None, kind=None) -> EdgeTable:
    n = len(src)
    return EdgeTable(key, np.asarray(src), np.asarray(dst),
                     np.full(n, NAN) if start is None else np.asarray(start, dtype=float),
                     np.full(n, NAN) if end is None else np.asarray(end, dtype=float),
                     None if kind is None else np.asarray(kind, dtype=object))


def _export() -> GraphExport:
    works = (Label.CONTACT, RelType.WORKS_AT, Label.ACCOUNT)
    role = (Label.CONTACT, RelType.ROLE_IN, Label.OPPORTUNITY)
    family = (Label.ACCOUNT, RelType.SUBSIDIARY_OF, Label.ACCOUNT)
    opp = _nodes(Label.OPPORTUNITY, 3)
    opp.numbers = {"amount": np.full(3, NAN), "closed_at": np.full(3, NAN), "is_won": np.full(3, NAN)}
    return GraphExport(
        nodes={Label.ACCOUNT: _nodes(Label.ACCOUNT, 5), Label.CONTACT: _nodes(Label.CONTACT, 4), Label.OPPORTUNITY: opp},
        edges={
            # contact 0 joined 10 days before T, 1 joined 200 days before, 2 joins after T, 3 left before T.
            works: _edges(works, [0, 1, 2, 3], [0, 0, 1, 1],
                          start=[T - 10 * DAY, T - 200 * DAY, T + DAY, T - 20 * DAY], end=[NAN, NAN, NAN, T - DAY]),
            role: _edges(role, [0, 1, 3], [0, 1, 2], kind=["champion", "user", "Champion"]),
            # accounts 1, 2 and 3 are children of 0; 4 stands alone
            family: _edges(family, [1, 2, 3], [0, 0, 0]),
        },
    )


def test_derived_relationships_see_only_what_existed_at_the_cutoff() -> None:
    derived = {name: pair for name, _, pair in derived_edges(take_snapshot(_export(), T))}

    src, dst = derived["role_in_champion"]
    assert sorted(zip(src.tolist(), dst.tolist())) == [(0, 0), (3, 2)]  # roles compared without case

    src, dst = derived["works_at_recent"]
    # Only contact 0: 1 joined too long ago, 2 joins after the cutoff, 3 left before it.
    assert list(zip(src.tolist(), dst.tolist())) == [(0, 0)]

    src, dst = derived["sibling_of"]
    pairs = sorted(zip(src.tolist(), dst.tolist()))
    assert pairs == [(1, 2), (1, 3), (2, 1), (2, 3), (3, 1), (3, 2)]  # both ways, no self, not the parent


def test_dense_training_cutoffs_never_reach_into_the_held_out_labels() -> None:
    cutoffs, val, test = window_cutoffs(400 * DAY, 30, 12, train_step_days=7)
    split = split_cutoffs(cutoffs, 30, val, test)  # raises if a training label window overlaps validation
    assert len(split["train"]) > 8 and np.allclose(np.diff(split["train"]), 7 * DAY)
    assert max(split["train"]) + 30 * DAY <= min(split["val"])
    assert split["val"] == window_cutoffs(400 * DAY, 30, 12)[0][8:10]


def test_a_model_saved_before_the_derived_relationships_scores_as_before() -> None:
    """Models trained without them have no layers for them: the extra relationship types change nothing."""
    import torch

    from kgcrm.ml.dataset import edge_type, snapshot_data
    from kgcrm.ml.model import IntentGNN

    export = _export()
    snapshot = take_snapshot(export, T)
    labels = [Label.ACCOUNT, Label.CONTACT, Label.OPPORTUNITY]
    norm = {label: (0.0, 1.0) for label in labels}
    data, _ = snapshot_data(snapshot, labels, norm)
    stored = {edge_type(key, reverse) for key in export.edges for reverse in (False, True)}
    assert set(data.edge_types) - stored == {
        ("Contact", "role_in_champion", "Opportunity"), ("Opportunity", "rev_role_in_champion", "Contact"),
        ("Contact", "works_at_recent", "Account"), ("Account", "rev_works_at_recent", "Contact"),
        ("Account", "sibling_of", "Account"),
    }
    torch.manual_seed(0)
    old = IntentGNN({t: data[t].x.shape[1] for t in data.node_types}, sorted(stored & set(data.edge_types)), "Account").eval()
    with torch.no_grad():
        everything = old(data.x_dict, data.edge_index_dict)
        stored_only = old(data.x_dict, {et: ei for et, ei in data.edge_index_dict.items() if et in stored})
    assert torch.equal(everything, stored_only)
