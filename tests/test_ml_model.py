"""The GNN computes only its target's receptive field, and that changes no score and no gradient
(no database needed: random graphs)."""

from __future__ import annotations

import torch

from kgcrm.ml.model import IntentGNN

# A chain Account - Contact - Activity - Campaign plus Account - Owner: with two layers the Campaign's
# embedding can never reach an Account, and only Accounts need the last layer.
SIZES = {"Account": 7, "Contact": 11, "Activity": 23, "Campaign": 3, "User": 2}
LINKS = [("Contact", "works_at", "Account"), ("Activity", "performed_by", "Contact"),
         ("Activity", "part_of", "Campaign"), ("User", "owns", "Account")]


def _graph(seed: int) -> tuple[dict[str, torch.Tensor], dict[tuple[str, str, str], torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    x = {t: torch.randn(n, 4 + k, generator=gen) for k, (t, n) in enumerate(SIZES.items())}
    edges = {}
    for src, rel, dst in LINKS:
        pairs = torch.stack([torch.randint(SIZES[src], (15,), generator=gen), torch.randint(SIZES[dst], (15,), generator=gen)])
        edges[(src, rel, dst)] = pairs
        edges[(dst, f"rev_{rel}", src)] = pairs.flip(0)
    return x, edges


def _model(x, edges, layers: int) -> IntentGNN:
    torch.manual_seed(3)
    return IntentGNN({t: v.shape[1] for t, v in x.items()}, sorted(edges), "Account", hidden=8, layers=layers,
                     dropout=0.0, aggr=("mean", "max", "sum"))


def _everything(model: IntentGNN, x, edges) -> torch.Tensor:
    """The unpruned forward pass: every type encoded, every layer over every relationship type."""
    h = model.gnn(model.encoder(x), edges)["Account"]
    return model.head(torch.cat([h, x["Account"]], dim=1)).squeeze(-1)


def test_the_plan_skips_what_cannot_reach_the_target() -> None:
    x, edges = _graph(0)
    model = _model(x, edges, layers=2)
    plan = model.gnn.layer_outputs(edges, set(x), {"Account"})
    assert plan[-1] == {"Account"}
    assert plan[0] == {"Account", "Contact", "User"}
    assert model.gnn.input_types(edges, set(x), {"Account"}) == {"Account", "Contact", "User", "Activity"}
    assert model.gnn.layer_outputs(edges, set(x), None) == [set(x), set(x)]


def test_pruned_scores_and_gradients_equal_the_full_pass() -> None:
    for layers in (1, 2, 3):
        for seed in range(3):
            x, edges = _graph(seed)
            model = _model(x, edges, layers)
            pruned = model(x, edges)
            full = _everything(model, x, edges)
            assert torch.allclose(pruned, full, atol=1e-6), (layers, seed)
            grads = []
            for out in (pruned, full):
                model.zero_grad()
                out.square().sum().backward()
                grads.append([p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()])
            for a, b in zip(*grads):
                assert torch.allclose(a, b, atol=1e-6), (layers, seed)
