"""Training the heterogeneous GNN on a point-in-time dataset, read top to bottom.

seed -> data (one HeteroData per cutoff) -> model -> train() -> test() on validation each epoch,
keep the best validation state, then predict validation and test once with it.
Full batch per snapshot when the graph is small enough, sampled mini-batches otherwise.
"""

from __future__ import annotations

import copy
import logging
import random
from dataclasses import dataclass

import numpy as np
import torch
from torch_geometric.data import HeteroData

from kgcrm.ml.baselines import Scores
from kgcrm.ml.dataset import PointInTimeDataset, edge_type, to_hetero_data
from kgcrm.ml.metrics import auroc
from kgcrm.ml.model import IntentGNN
from kgcrm.ml.sampler import NeighbourSampler

logger = logging.getLogger(__name__)
GNN_NAME = "GNN (HeteroConv SAGE)"


@dataclass(frozen=True)
class GnnConfig:
    hidden: int = 64
    layers: int = 2
    dropout: float = 0.2
    aggr: tuple[str, ...] = ("mean",)
    lr: float = 0.005
    weight_decay: float = 1e-4
    epochs: int = 60
    patience: int = 12
    seed: int = 0
    threads: int = 2
    # Snapshots with more nodes than this are trained in sampled mini-batches.
    full_batch_max_nodes: int = 2_000_000
    batch_size: int = 2048
    fanouts: tuple[int, ...] = (15, 10)
    # Read the derived relationships too (dataset.derived_edges: key committee roles, sister accounts).
    derived_edges: bool = True


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class TrainedGnn:
    """The trained network, what it was built for, and its validation and test logits."""

    model: IntentGNN
    in_dims: dict[str, int]
    edge_types: list[tuple[str, str, str]]
    scores: Scores
    best_epoch: int


def train_gnn(dataset: PointInTimeDataset, config: GnnConfig = GnnConfig()) -> Scores:
    """Train on the training cutoffs, select the epoch on validation AUROC, return validation and test logits."""
    return fit_gnn(dataset, config).scores


def fit_gnn(dataset: PointInTimeDataset, config: GnnConfig = GnnConfig()) -> TrainedGnn:
    """Train on the training cutoffs and keep the network with the best validation AUROC."""
    seed_everything(config.seed)
    torch.set_num_threads(config.threads)
    dev = device()
    target = dataset.task.target.value

    # Data: one graph per cutoff, each with the scored nodes (`seed`) and their labels (`y`).
    graphs = {split: [to_hetero_data(dataset, part) for part in parts] for split, parts in dataset.parts.items()}
    first = graphs["train"][0]
    edge_types = sorted({et for gs in graphs.values() for g in gs for et in g.edge_types})
    if not config.derived_edges:
        stored = {edge_type(key, reverse) for key in dataset.export.edges for reverse in (False, True)}
        edge_types = [et for et in edge_types if et in stored]
    in_dims = {t: first[t].x.shape[1] for t in first.node_types}
    model = IntentGNN(
        in_dims, edge_types, target,
        hidden=config.hidden, layers=config.layers, dropout=config.dropout, aggr=tuple(config.aggr),
    ).to(dev)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    # Unbalanced labels, therefore a weighted loss (calibration afterwards undoes the reweighting).
    y_train = dataset.labels("train")
    pos_weight = torch.tensor((1 - y_train.mean()) / max(y_train.mean(), 1e-6), device=dev)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    samplers = {id(g): NeighbourSampler(g, list(config.fanouts), config.seed)
                for gs in graphs.values() for g in gs if g.num_nodes > config.full_batch_max_nodes}

    def batches(g: HeteroData, shuffle: bool):
        """(graph on the device, seed positions in it, indices into g's labels)."""
        seeds = g[target].seed.numpy()
        if id(g) not in samplers:
            yield g.to(dev), g[target].seed.to(dev), np.arange(len(seeds))
            return
        for sub, picked in samplers[id(g)].batches(target, seeds, config.batch_size, shuffle):
            yield sub.to(dev), sub[target].seed.to(dev), picked

    def train() -> float:
        model.train()
        total, count = 0.0, 0
        for i in np.random.permutation(len(graphs["train"])):
            g = graphs["train"][i]
            for batch, seed_pos, picked in batches(g, shuffle=True):
                optimizer.zero_grad()
                logits = model(batch.x_dict, batch.edge_index_dict)[seed_pos]
                loss = loss_fn(logits, g[target].y[picked].to(dev))
                loss.backward()
                optimizer.step()
                total += loss.item() * len(picked)
                count += len(picked)
        return total / max(count, 1)

    @torch.no_grad()
    def test(split: str) -> tuple[np.ndarray, np.ndarray]:
        model.eval()
        logits, labels = [], []
        for g in graphs[split]:
            out = np.zeros(len(g[target].y), dtype=np.float64)
            for batch, seed_pos, picked in batches(g, shuffle=False):
                out[picked] = model(batch.x_dict, batch.edge_index_dict)[seed_pos].cpu().numpy()
            logits.append(out)
            labels.append(g[target].y.numpy())
        return np.concatenate(logits), np.concatenate(labels)

    best_auc, best_state, best_epoch = -1.0, copy.deepcopy(model.state_dict()), 0
    for epoch in range(1, config.epochs + 1):
        loss = train()
        val_logits, val_y = test("val")
        val_auc = auroc(val_y, val_logits)
        logger.info("epoch %s loss %.4f val AUROC %.4f", epoch, loss, val_auc)
        if val_auc > best_auc:
            best_auc, best_state, best_epoch = val_auc, copy.deepcopy(model.state_dict()), epoch
        elif epoch - best_epoch >= config.patience:
            break
    model.load_state_dict(best_state)
    logger.info("best epoch %s, validation AUROC %.4f", best_epoch, best_auc)

    val_logits, val_y = test("val")
    test_logits, test_y = test("test")
    scores = Scores(GNN_NAME, val_logits, val_y, test_logits, test_y)
    return TrainedGnn(model.cpu().eval(), in_dims, edge_types, scores, best_epoch)
