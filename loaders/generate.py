"""Generates a synthetic CRM world with planted intent, written as a Salesforce export plus a separate ground truth.

The world is decided by `WorldParams` alone (one numpy generator seeded once), so a seed gives the same bytes.
The phases live in their own modules: entities (who exists), simulate (latent intent, deals, moves),
activities (what people did), export and truth (the files).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kgcrm.graph.errors import InvalidInput
from kgcrm.loaders.generate_activities import make_activities, make_campaign_members, make_line_items, make_stints
from kgcrm.loaders.generate_duplicates import SECOND_SOURCE_DIR, write_second_source
from kgcrm.loaders.generate_entities import make_static_world
from kgcrm.loaders.generate_export import EXPORT_FILES, ExportWriter
from kgcrm.loaders.generate_params import PlantedSignal, WorldParams
from kgcrm.loaders.generate_simulate import simulate
from kgcrm.loaders.generate_truth import GROUND_TRUTH_DIR, write_ground_truth

__all__ = ["EXPORT_FILES", "GROUND_TRUTH_DIR", "SECOND_SOURCE_DIR", "GeneratedWorld", "PlantedSignal", "WorldParams", "generate_world"]

logger = logging.getLogger(__name__)

# Objects that become graph nodes (the rest become relationships).
NODE_FILES: tuple[str, ...] = ("Account.csv", "Contact.csv", "User.csv", "Opportunity.csv", "Task.csv",
                               "Event.csv", "Product2.csv", "Campaign.csv")


@dataclass
class GeneratedWorld:
    """What was written: rows per file and how long it took."""

    outdir: Path
    rows: dict[str, int] = field(default_factory=dict)
    truth_rows: dict[str, int] = field(default_factory=dict)
    second_source_rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def nodes(self) -> int:
        return sum(self.rows[name] for name in NODE_FILES)

    @property
    def relationship_rows(self) -> int:
        return sum(count for name, count in self.rows.items() if name not in NODE_FILES)


def _check_outdir(outdir: Path) -> None:
    if outdir.exists() and not outdir.is_dir():
        raise InvalidInput(f"OUTDIR {outdir} exists and is not a folder")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"OUTDIR {outdir}: cannot create it ({exc.strerror})") from None


def generate_world(params: WorldParams, outdir: Path, quiet: bool = False) -> GeneratedWorld:
    """Simulate the world and write it to `outdir` (existing files of the same names are replaced)."""
    _check_outdir(outdir)
    began = time.perf_counter()
    rng = np.random.default_rng(params.seed)
    world = make_static_world(rng, params)
    logger.info("world: %s accounts, %s contacts, %s users", world.accounts.count, world.contacts.count, world.users.count)
    bursts, outcome = simulate(rng, params, world, quiet)
    stints = make_stints(world, outcome)
    activities = make_activities(rng, params, world, bursts, outcome, stints)
    members = make_campaign_members(rng, world, activities, outcome)
    items = make_line_items(rng, world, outcome)
    logger.info("simulated: %s opportunities, %s activities", len(outcome.opp_account), activities.count)
    writer = ExportWriter(params, world, outcome, outdir, quiet)
    result = GeneratedWorld(outdir)
    result.rows["User.csv"] = writer.users()
    result.rows["Account.csv"] = writer.accounts()
    result.rows["Contact.csv"] = writer.contacts(stints)
    result.rows["AccountContactRelation.csv"] = writer.account_contact_relations(stints)
    result.rows["Opportunity.csv"] = writer.opportunities(items)
    result.rows["OpportunityContactRole.csv"] = writer.contact_roles()
    result.rows["Product2.csv"] = writer.products()
    result.rows["OpportunityLineItem.csv"] = writer.line_items(items)
    result.rows["Campaign.csv"] = writer.campaigns()
    result.rows["CampaignMember.csv"] = writer.campaign_members(members)
    result.rows["Task.csv"], result.rows["Event.csv"] = writer.tasks_and_events(activities)
    result.truth_rows = write_ground_truth(outdir, params, outcome, writer.ids, quiet)
    if params.duplicates:
        result.second_source_rows = write_second_source(outdir, outdir / GROUND_TRUTH_DIR, params.duplicates, params.seed)
    result.seconds = time.perf_counter() - began
    logger.info("wrote %s nodes in %.1f s to %s", result.nodes, result.seconds, outdir)
    return result
