"""Why a node has its score: occlusion attributions over feature groups and relationships, told in words.

For each driver group (engagement by the account and its contacts, a new contact's history,
its parent and subsidiaries, ...) the whole graph is scored once more with that group neutralised:
features set to their training mean, or the relationships removed. The drop in a node's logit is
the group's contribution to that node's score. One forward pass per group scores every node at once,
so explaining costs a handful of inference passes, not one per node. The top groups that lift the
score become sentences with the node's own facts ("4 contacts engaged in the last 14 days").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from kgcrm.graph.model import Label, RelType
from kgcrm.ml.artifact import ModelArtifact
from kgcrm.ml.dataset import KEY_ROLES
from kgcrm.ml.export import GraphExport
from kgcrm.ml.features import DAY, Snapshot
from kgcrm.ml.inference import Prepared, logits_of
from kgcrm.ml.model import IntentGNN

TOP_DRIVERS = 3
ENGAGEMENT_TYPES = ("email_opened", "email_replied", "web_visit", "content_download", "webinar_attended", "form_submitted")
ENGAGEMENT_DAYS = 14.0
RECENT_ACTIVITY_DAYS = 30.0
NEW_CONTACT_DAYS = 90.0
RELATED_DEAL_DAYS = 90.0


def _activity_column(name: str) -> bool:
    return name.startswith("act_") or name == "log_days_since_last_activity"


def _degree_column(name: str) -> bool:
    return name.startswith("degree_")


def _tenure_column(name: str) -> bool:
    return name in ("log_days_in_current_job", "log_past_employers")


@dataclass(frozen=True)
class Group:
    """One driver: input columns to neutralise per node type, and/or relationship types to remove."""

    key: str
    columns: dict[str, Callable[[str], bool]]
    edges: tuple[str, ...] = ()


def driver_groups(target: Label, node_types: list[str]) -> list[Group]:
    """The driver groups that make sense for a target label, given the node types the model reads."""
    t = target.value
    # One engagement group for the node's own activity and its contacts' activity: they are the same
    # events seen from both ends (ABOUT the account, PERFORMED_BY a contact); split, each half would
    # carry only part of the weight of what an account manager sees as one thing.
    engagement = {t: _activity_column}
    if Label.CONTACT.value in node_types and target != Label.CONTACT:
        engagement[Label.CONTACT.value] = _activity_column
    groups = [
        Group("engagement", engagement),
        Group("profile", {t: lambda n: not (_activity_column(n) or _degree_column(n))}),
        Group("connections", {t: _degree_column}),
    ]
    if Label.CONTACT.value in node_types:
        # A contact's history: how long it has been here, its seats, and the key roles it held on deals.
        groups.append(Group("contact_history", {Label.CONTACT.value: lambda n: _tenure_column(n) or _degree_column(n)},
                            (*(f"role_in_{role}" for role in KEY_ROLES), "works_at_recent")))
    if target == Label.ACCOUNT:
        groups.append(Group("related_accounts", {}, (RelType.SUBSIDIARY_OF.value.lower(), "sibling_of")))
    for other, key in ((Label.OPPORTUNITY, "deals"), (Label.ACCOUNT, "account"), (Label.USER, "owner"),
                       (Label.PRODUCT, "products"), (Label.CAMPAIGN, "campaigns")):
        if other != target and other.value in node_types:
            groups.append(Group(key, {other.value: lambda n: True}))
    return groups


def attributions(
    artifact: ModelArtifact, model: IntentGNN, prepared: Prepared, base_logits: np.ndarray
) -> dict[str, np.ndarray]:
    """Per group, how much each scored node's logit drops when the group is neutralised."""
    data = prepared.data
    out = {}
    for group in driver_groups(artifact.task.target, list(data.node_types)):
        x_dict = dict(data.x_dict)
        touched = False
        for node_type, wanted in group.columns.items():
            names = artifact.names.get(Label(node_type), [])
            cols = [i for i, name in enumerate(names) if wanted(name)]
            if node_type in x_dict and cols:
                x = x_dict[node_type].clone()
                x[:, torch.tensor(cols)] = 0.0  # the training mean, after normalising
                x_dict[node_type] = x
                touched = True
        edges = dict(data.edge_index_dict)
        for rel in group.edges:
            dropped = [et for et in edges if et[1] in (rel, f"rev_{rel}")]
            for et in dropped:
                del edges[et]
            touched |= bool(dropped)
        if touched:
            out[group.key] = base_logits - logits_of(model, prepared, x_dict, edges)
    return out


def top_drivers(contributions: dict[str, np.ndarray], k: int = TOP_DRIVERS) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per node, the k groups that lift its score most (contribution > 0): indices, values and group keys."""
    keys = list(contributions)
    if not keys:
        return np.zeros((0, 0), np.int64), np.zeros((0, 0)), keys
    matrix = np.stack([contributions[key] for key in keys], axis=1)
    order = np.argsort(-matrix, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(matrix, order, axis=1), keys


class Facts:
    """Numbers about each target node at the cutoff, computed once, that the driver sentences quote."""

    def __init__(self, export: GraphExport, snapshot: Snapshot, target: Label) -> None:
        self.export, self.snapshot, self.target = export, snapshot, target
        self.cutoff = snapshot.cutoff
        n = len(snapshot.alive[target])
        self.n = n
        self.engaged = np.zeros(n, np.int64)
        self.recent_activities = np.zeros(n, np.int64)
        self.new_contact_day = np.full(n, np.nan)
        self.new_champion_day = np.full(n, np.nan)
        self.related: dict[int, tuple[str, str, float]] = {}
        self.deals = np.zeros((n, 3), np.int64)
        if target == Label.ACCOUNT:
            self._account_facts()

    def _edges(self, src: Label, rel: RelType, dst: Label) -> tuple[np.ndarray, np.ndarray]:
        return self.snapshot.edges.get((src, rel, dst), (np.zeros(0, np.int64), np.zeros(0, np.int64)))

    def _account_facts(self) -> None:
        export, cutoff = self.export, self.cutoff
        acts = export.nodes.get(Label.ACTIVITY)
        works_src, works_dst = self._edges(Label.CONTACT, RelType.WORKS_AT, Label.ACCOUNT)
        if acts is not None and len(acts):
            at = np.where(np.isnan(acts.numbers["at"]), acts.created_at, acts.numbers["at"])
            age = (cutoff - at) / DAY
            engaging = np.isin(acts.strings["type"], ENGAGEMENT_TYPES) & (age >= 0) & (age <= ENGAGEMENT_DAYS)
            act_src, contact = self._edges(Label.ACTIVITY, RelType.PERFORMED_BY, Label.CONTACT)
            engaged_contacts = np.unique(contact[engaging[act_src]])
            is_engaged = np.zeros(len(export.nodes[Label.CONTACT]), bool)
            is_engaged[engaged_contacts] = True
            pairs = np.unique(np.stack([works_dst[is_engaged[works_src]], works_src[is_engaged[works_src]]]), axis=1)
            self.engaged = np.bincount(pairs[0], minlength=self.n) if pairs.size else self.engaged
            about_src, about_dst = self._edges(Label.ACTIVITY, RelType.ABOUT, Label.ACCOUNT)
            recent = (age[about_src] >= 0) & (age[about_src] <= RECENT_ACTIVITY_DAYS)
            self.recent_activities = np.bincount(about_dst[recent], minlength=self.n)

        opps = export.nodes.get(Label.OPPORTUNITY)
        opp_src, opp_account = self._edges(Label.OPPORTUNITY, RelType.FOR_ACCOUNT, Label.ACCOUNT)
        if opps is None or not len(opps):
            return
        closed_at = opps.numbers["closed_at"]
        closed = closed_at < cutoff
        won = closed & (opps.numbers["is_won"] == 1.0)
        state = np.where(won, 0, np.where(closed, 1, 2))[opp_src]
        np.add.at(self.deals, (opp_account, state), 1)

        # A contact who joined recently and was on the buying committee of a deal won at another account.
        table = export.edges.get((Label.CONTACT, RelType.WORKS_AT, Label.ACCOUNT))
        if table is not None:
            started = table.start
            fresh = (cutoff - started) / DAY
            alive = self.snapshot.alive[Label.CONTACT][table.src] & (np.isnan(table.end) | (table.end > cutoff))
            joined = alive & (fresh >= 0) & (fresh <= NEW_CONTACT_DAYS)
            account_of_opp = np.full(len(opps), -1)
            account_of_opp[opp_src] = opp_account
            role_contact, role_opp = self._edges(Label.CONTACT, RelType.ROLE_IN, Label.OPPORTUNITY)
            won_role = won[role_opp] & (account_of_opp[role_opp] >= 0)
            n_accounts = np.int64(self.n)
            won_total = np.bincount(role_contact[won_role], minlength=len(self.snapshot.alive[Label.CONTACT]))
            won_here_keys, won_here = np.unique(
                role_contact[won_role].astype(np.int64) * n_accounts + account_of_opp[role_opp[won_role]], return_counts=True
            )
            contact, account, day = table.src[joined], table.dst[joined], started[joined]
            keys = contact.astype(np.int64) * n_accounts + account
            at = np.searchsorted(won_here_keys, keys)
            here = np.where((at < len(won_here_keys)) & (won_here_keys[np.minimum(at, len(won_here_keys) - 1)] == keys),
                            won_here[np.minimum(at, max(len(won_here) - 1, 0))] if len(won_here) else 0, 0)
            champion = won_total[contact] > here
            np.fmax.at(self.new_contact_day, account, day)
            np.fmax.at(self.new_champion_day, account[champion], day[champion])

        # Related accounts (parent, subsidiary, sister) with a deal won or opened recently.
        child, parent = self._edges(Label.ACCOUNT, RelType.SUBSIDIARY_OF, Label.ACCOUNT)
        relations: list[tuple[int, int, str]] = [(int(c), int(p), "parent") for c, p in zip(child, parent)]
        relations += [(int(p), int(c), "subsidiary") for c, p in zip(child, parent)]
        children_of: dict[int, list[int]] = {}
        for c, p in zip(child.tolist(), parent.tolist()):
            children_of.setdefault(p, []).append(c)
        for kids in children_of.values():
            relations += [(a, b, "sister") for a in kids for b in kids if a != b]
        won_day = np.where(won, closed_at, np.nan)[opp_src]
        opened = opps.created_at[opp_src]
        opened_day = np.where((cutoff - opened) / DAY <= RELATED_DEAL_DAYS, opened, np.nan)
        latest_won = np.full(self.n, np.nan)
        latest_opened = np.full(self.n, np.nan)
        recent_won = (cutoff - won_day) / DAY <= RELATED_DEAL_DAYS
        np.fmax.at(latest_won, opp_account[recent_won], won_day[recent_won])
        has_opened = ~np.isnan(opened_day)
        np.fmax.at(latest_opened, opp_account[has_opened], opened_day[has_opened])
        for me, other, relation in relations:
            for what, days in (("won a deal", latest_won[other]), ("opened an opportunity", latest_opened[other])):
                if not np.isnan(days) and (me not in self.related or self.related[me][2] < days):
                    self.related[me] = (relation, what, float(days))
                    break

    def sentence(self, key: str, row: int) -> str:
        """The driver `key` of node `row` in words an account manager understands."""
        if key == "engagement":
            n, m = int(self.engaged[row]), int(self.recent_activities[row])
            activities = f"{m} activit{'ies' if m != 1 else 'y'} in the last {RECENT_ACTIVITY_DAYS:.0f} days"
            if n:
                return f"{n} contact{'s' if n > 1 else ''} engaged in the last {ENGAGEMENT_DAYS:.0f} days ({activities})"
            return activities if m else "its activity and its contacts' engagement"
        if key == "contact_history":
            if not np.isnan(self.new_champion_day[row]):
                return f"a contact from a deal won elsewhere joined on {_day(self.new_champion_day[row])}"
            if not np.isnan(self.new_contact_day[row]):
                return f"a new contact joined on {_day(self.new_contact_day[row])}"
            return "the track record of its contacts"
        if key == "related_accounts":
            if row in self.related:
                relation, what, day = self.related[row]
                return f"a {relation} account {what} on {_day(day)}"
            return "its parent and subsidiary accounts"
        if key == "deals":
            won, lost, open_ = (int(v) for v in self.deals[row])
            return f"its deal history ({won} won, {lost} lost, {open_} open)" if won + lost + open_ else "its deals"
        return {
            "profile": "its company profile (size, industry, region, age)" if self.target == Label.ACCOUNT else "its own attributes",
            "connections": "how many contacts, deals and links it has",
            "account": "the account it belongs to",
            "owner": "its owner's book of business",
            "products": "the products involved",
            "campaigns": "the campaigns around it",
        }.get(key, key.replace("_", " "))


def _day(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).date().isoformat()


def explain_rows(
    artifact: ModelArtifact, model: IntentGNN, prepared: Prepared, base_logits: np.ndarray,
    export: GraphExport, snapshot: Snapshot, index: np.ndarray,
) -> tuple[list[list[str]], list[list[float]], list[list[str]]]:
    """Per scored row: the driver sentences, their contributions (logit units) and group keys, strongest first."""
    order, values, keys = top_drivers(attributions(artifact, model, prepared, base_logits))
    facts = Facts(export, snapshot, artifact.task.target)
    sentences, weights, groups = [], [], []
    for i, row in enumerate(index.tolist()):
        chosen = [(keys[j], float(v)) for j, v in zip(order[i], values[i]) if v > 0] if len(keys) else []
        sentences.append([facts.sentence(key, row) for key, _ in chosen])
        weights.append([round(v, 4) for _, v in chosen])
        groups.append([key for key, _ in chosen])
    return sentences, weights, groups
