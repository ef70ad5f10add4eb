"""Activities, employment stints and campaign memberships of the simulated world, built as numpy columns.

Four sources of activity: heavy-tailed background noise (no intent), the engagement bursts that carry intent,
sales activity on open deals (only after a deal opens), and a few engagements by people who just changed company.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kgcrm.loaders import generate_vocab as vocab
from kgcrm.loaders.generate_entities import LOG_EMPLOYEES_MEAN, LOG_EMPLOYEES_SD, StaticWorld
from kgcrm.loaders.generate_params import WorldParams
from kgcrm.loaders.generate_simulate import TYPE_RENEWAL, Bursts, Outcome, weekday_of

FOREVER = np.iinfo(np.int64).max // 4
# Background activities per account and day: lognormal around this median (a heavy tail of busy accounts).
BACKGROUND_MEDIAN_PER_DAY = 0.02
BACKGROUND_SIGMA = 1.1
DEAL_ACTIVITIES_PER_DAY = 0.12
# Activity type codes: index into ACTIVITY_TYPES (Task Types of the contract, plus "Meeting" for Event.csv).
ACTIVITY_TYPES: tuple[str, ...] = tuple(dict.fromkeys(
    [name for name, _ in vocab.BACKGROUND_TYPES] + list(vocab.ENGAGEMENT_TYPES) + [name for name, _ in vocab.DEAL_ACTIVITY_TYPES]
))
MEETING = ACTIVITY_TYPES.index("Meeting")
WEBINAR = ACTIVITY_TYPES.index("Webinar")
# What an activity is about (WhatId).
ABOUT_ACCOUNT, ABOUT_OPPORTUNITY, ABOUT_CAMPAIGN = range(3)


@dataclass
class Stints:
    """Employment history: one row per (contact, account) period, `end` exclusive (FOREVER while current)."""

    contact: np.ndarray
    account: np.ndarray
    start: np.ndarray
    end: np.ndarray
    offsets: np.ndarray  # stints sorted by account; offsets[a]:offsets[a+1] are account a's

    def current_account(self, n_contacts: int) -> np.ndarray:
        current = np.full(n_contacts, -1)
        live = self.end == FOREVER
        current[self.contact[live]] = self.account[live]
        return current


@dataclass
class Activities:
    account: np.ndarray  # the account it belongs to (for the ground truth and owner)
    contact: np.ndarray  # WhoId
    about_kind: np.ndarray  # ABOUT_*
    about: np.ndarray  # index of the account, opportunity or campaign
    type: np.ndarray  # index into ACTIVITY_TYPES
    day: np.ndarray
    second: np.ndarray  # seconds after midnight UTC

    @property
    def count(self) -> int:
        return len(self.day)


def make_stints(world: StaticWorld, outcome: Outcome) -> Stints:
    contacts = world.contacts
    n = contacts.count
    move_contact = np.array(outcome.move_contact, dtype=np.int64)
    move_day = np.array(outcome.move_day, dtype=np.int64)
    first_end = np.full(n, FOREVER)
    first_end[move_contact] = move_day
    contact = np.concatenate([np.arange(n), move_contact])
    account = np.concatenate([contacts.home, np.array(outcome.move_to, dtype=np.int64)])
    start = np.concatenate([outcome.contact_created_day, move_day])
    end = np.concatenate([first_end, np.full(len(move_contact), FOREVER)])
    order = np.lexsort((start, contact, account))
    account = account[order]
    offsets = np.searchsorted(account, np.arange(world.accounts.count + 1))
    return Stints(contact[order], account, start[order], end[order], offsets)


def pick_contacts(rng: np.random.Generator, stints: Stints, account: np.ndarray, day: np.ndarray) -> np.ndarray:
    """A random contact working at `account` on `day`, for each pair (-1 where none was found)."""
    result = np.full(len(account), -1)
    todo = np.arange(len(account))
    counts = np.diff(stints.offsets)
    for _ in range(40):
        if not len(todo):
            break
        a = account[todo]
        row = stints.offsets[a] + (rng.random(len(todo)) * counts[a]).astype(np.int64)
        ok = (stints.start[row] <= day[todo]) & (day[todo] < stints.end[row])
        result[todo[ok]] = stints.contact[row[ok]]
        todo = todo[~ok]
    return result


def _seconds(rng: np.random.Generator, types: np.ndarray) -> np.ndarray:
    """Business hours for sales activity; web visits and downloads spread over the whole day."""
    office = np.clip(rng.normal(13.5 * 3600, 2.5 * 3600, size=len(types)), 7 * 3600, 21 * 3600)
    web = rng.integers(0, 86400, size=len(types))
    online = np.isin(types, [ACTIVITY_TYPES.index("Web Visit"), ACTIVITY_TYPES.index("Content Download")])
    meeting = 8 * 3600 + 1800 * rng.integers(0, 19, size=len(types))
    return np.where(types == MEETING, meeting, np.where(online, web, office)).astype(np.int64)


def _type_codes(names: list[str] | tuple[str, ...]) -> np.ndarray:
    return np.array([ACTIVITY_TYPES.index(name) for name in names])


def _background(rng: np.random.Generator, params: WorldParams, world: StaticWorld) -> tuple[np.ndarray, ...]:
    accounts = world.accounts
    size_z = (np.log(accounts.employees) - LOG_EMPLOYEES_MEAN) / LOG_EMPLOYEES_SD
    level = BACKGROUND_MEDIAN_PER_DAY * np.exp(rng.normal(0.2 * size_z, BACKGROUND_SIGMA))
    counts = rng.poisson(level * params.days)
    account = np.repeat(np.arange(accounts.count), counts)
    day_weight = np.where(weekday_of(params, np.arange(params.days)) >= 5, 0.3, 1.0)
    day = rng.choice(params.days, size=len(account), p=day_weight / day_weight.sum())
    names = [name for name, _ in vocab.BACKGROUND_TYPES]
    weights = np.array([weight for _, weight in vocab.BACKGROUND_TYPES])
    prospect_weights = np.where([name in vocab.CUSTOMER_ONLY_TYPES for name in names], 0.0, weights)
    customer_type = rng.choice(len(names), size=len(account), p=weights / weights.sum())
    prospect_type = rng.choice(len(names), size=len(account), p=prospect_weights / prospect_weights.sum())
    kind = np.where(accounts.is_customer[account], customer_type, prospect_type)
    return account, day, _type_codes(names)[kind]


def _burst_activities(rng: np.random.Generator, bursts: Bursts, stints: Stints) -> tuple[np.ndarray, ...]:
    """Give each burst its contacts: distinct people for a committee burst, one person for a single burst."""
    contact = np.full(len(bursts.act_day), -1)
    order = np.argsort(bursts.act_burst, kind="stable")
    bounds = np.searchsorted(bursts.act_burst[order], np.arange(len(bursts.account) + 1))
    for burst in range(len(bursts.account)):
        acts = order[bounds[burst]:bounds[burst + 1]]
        if not len(acts):
            continue
        account = bursts.account[burst]
        lo, hi = stints.offsets[account], stints.offsets[account + 1]
        first, last = bursts.act_day[acts].min(), bursts.act_day[acts].max()
        present = stints.contact[lo:hi][(stints.start[lo:hi] <= first) & (stints.end[lo:hi] > last)]
        if not len(present):
            continue
        chosen = rng.choice(present, size=min(int(bursts.n_contacts[burst]), len(present)), replace=False)
        contact[acts] = chosen[np.arange(len(acts)) % len(chosen)]
    account = bursts.account[bursts.act_burst]
    return account, bursts.act_day, _type_codes(vocab.ENGAGEMENT_TYPES)[bursts.act_type], contact


def _deal_activities(rng: np.random.Generator, params: WorldParams, outcome: Outcome) -> tuple[np.ndarray, ...]:
    created = np.array(outcome.opp_created, dtype=np.int64)
    close = np.minimum(np.array(outcome.opp_close, dtype=np.int64), params.days)
    duration = np.where(created >= 0, np.maximum(close - created, 0), 0)
    counts = rng.poisson(DEAL_ACTIVITIES_PER_DAY * duration)
    opp = np.repeat(np.arange(len(created)), counts)
    day = created[opp] + (rng.random(len(opp)) * duration[opp]).astype(np.int64)
    weekday_keep = weekday_of(params, day) < 5
    keep = weekday_keep | (rng.random(len(day)) < 0.15)
    opp, day = opp[keep], day[keep]
    role_opp = np.array(outcome.role_opp, dtype=np.int64)
    offsets = np.searchsorted(role_opp, np.arange(len(created) + 1))
    member = offsets[opp] + (rng.random(len(opp)) * (offsets[opp + 1] - offsets[opp])).astype(np.int64)
    contact = np.array(outcome.role_contact, dtype=np.int64)[member]
    names = [name for name, _ in vocab.DEAL_ACTIVITY_TYPES]
    weights = np.array([weight for _, weight in vocab.DEAL_ACTIVITY_TYPES])
    types = _type_codes(names)[rng.choice(len(names), size=len(opp), p=weights / weights.sum())]
    account = np.array(outcome.opp_account, dtype=np.int64)[opp]
    return account, day, types, contact, opp


def _arrival_activities(rng: np.random.Generator, params: WorldParams, outcome: Outcome) -> tuple[np.ndarray, ...]:
    """1-3 engagements by every mover at the new company within two weeks, champion or not."""
    counts = 1 + rng.integers(0, 3, size=len(outcome.move_contact))
    mover = np.repeat(np.arange(len(counts)), counts)
    day = np.array(outcome.move_day, dtype=np.int64)[mover] + rng.integers(0, 14, size=len(mover))
    types = _type_codes(vocab.ENGAGEMENT_TYPES)[rng.integers(0, len(vocab.ENGAGEMENT_TYPES) - 1, size=len(mover))]
    keep = day < params.days
    account = np.array(outcome.move_to, dtype=np.int64)[mover]
    contact = np.array(outcome.move_contact, dtype=np.int64)[mover]
    return account[keep], day[keep], types[keep], contact[keep]


def make_activities(rng: np.random.Generator, params: WorldParams, world: StaticWorld, bursts: Bursts,
                    outcome: Outcome, stints: Stints) -> Activities:
    """All activities, sorted by time."""
    bg_account, bg_day, bg_type = _background(rng, params, world)
    bg_contact = pick_contacts(rng, stints, bg_account, bg_day)
    bu_account, bu_day, bu_type, bu_contact = _burst_activities(rng, bursts, stints)
    de_account, de_day, de_type, de_contact, de_opp = _deal_activities(rng, params, outcome)
    ar_account, ar_day, ar_type, ar_contact = _arrival_activities(rng, params, outcome)
    account = np.concatenate([bg_account, bu_account, de_account, ar_account])
    day = np.concatenate([bg_day, bu_day, de_day, ar_day])
    types = np.concatenate([bg_type, bu_type, de_type, ar_type])
    contact = np.concatenate([bg_contact, bu_contact, de_contact, ar_contact])
    about_kind = np.concatenate([
        np.full(len(bg_day), ABOUT_ACCOUNT), np.full(len(bu_day), ABOUT_ACCOUNT),
        np.full(len(de_day), ABOUT_OPPORTUNITY), np.full(len(ar_day), ABOUT_ACCOUNT),
    ])
    about = np.concatenate([bg_account, bu_account, de_opp, ar_account])
    # Webinar attendances are about that month's webinar campaign.
    month = np.searchsorted(world.month_start_days, day, side="right") - 1
    webinar = (types == WEBINAR) & (about_kind == ABOUT_ACCOUNT)
    about_kind = np.where(webinar, ABOUT_CAMPAIGN, about_kind)
    about = np.where(webinar, world.campaigns.webinar_of_month[np.clip(month, 0, len(world.campaigns.webinar_of_month) - 1)], about)
    second = _seconds(rng, types)
    keep = (contact >= 0) & (day >= 0) & (day < params.days)
    order = np.lexsort((second[keep], day[keep]))
    return Activities(
        account=account[keep][order],
        contact=contact[keep][order],
        about_kind=about_kind[keep][order],
        about=about[keep][order],
        type=types[keep][order],
        day=day[keep][order],
        second=second[keep][order],
    )


@dataclass
class CampaignMembers:
    campaign: np.ndarray
    contact: np.ndarray
    created_day: np.ndarray
    responded: np.ndarray
    responded_day: np.ndarray  # -1 where not responded
    status: np.ndarray  # strings


def make_campaign_members(rng: np.random.Generator, world: StaticWorld, activities: Activities,
                          outcome: Outcome) -> CampaignMembers:
    """Webinar attendees (registered the same day they attend) and untargeted e-mail/ad audiences (noise)."""
    attended = np.flatnonzero(activities.about_kind == ABOUT_CAMPAIGN)
    pairs = activities.about[attended] * world.contacts.count + activities.contact[attended]
    _, first = np.unique(pairs, return_index=True)
    attended = attended[np.sort(first)]
    campaigns = world.campaigns
    other = np.flatnonzero(campaigns.type != campaigns.type[0])
    per_campaign = rng.poisson(0.01 * world.contacts.count, size=len(other))
    audience_campaign = np.repeat(other, per_campaign)
    audience_contact = rng.integers(0, world.contacts.count, size=len(audience_campaign))
    pairs = audience_campaign * world.contacts.count + audience_contact
    _, first = np.unique(pairs, return_index=True)
    first = np.sort(first)
    audience_campaign, audience_contact = audience_campaign[first], audience_contact[first]
    audience_created = np.maximum(campaigns.start_day[audience_campaign], outcome.contact_created_day[audience_contact])
    responded = rng.random(len(audience_campaign)) < 0.1
    responded_day = np.where(responded, audience_created + rng.integers(0, 20, size=len(audience_campaign)), -1)
    return CampaignMembers(
        campaign=np.concatenate([activities.about[attended], audience_campaign]),
        contact=np.concatenate([activities.contact[attended], audience_contact]),
        created_day=np.concatenate([activities.day[attended], audience_created]),
        responded=np.concatenate([np.ones(len(attended), dtype=bool), responded]),
        responded_day=np.concatenate([activities.day[attended], responded_day]),
        status=np.concatenate([np.full(len(attended), "Attended"), np.where(responded, "Responded", "Sent")]),
    )


@dataclass
class LineItems:
    opp: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    unit_price: np.ndarray


_SEAT_PRODUCTS = {"User Licence", "Training Seat", "Extra Storage TB", "Custom Development Day"}


def make_line_items(rng: np.random.Generator, world: StaticWorld, outcome: Outcome) -> LineItems:
    """1-4 distinct products per deal; seat-like products scale with company size; renewals renew support."""
    n_opps = len(outcome.opp_account)
    n_products = len(vocab.PRODUCTS)
    seat = np.array([name in _SEAT_PRODUCTS for name, _, _ in vocab.PRODUCTS])
    list_price = np.array([price for _, _, price in vocab.PRODUCTS])
    support = [i for i, (_, family, _) in enumerate(vocab.PRODUCTS) if family == "Support"]
    items = 1 + rng.binomial(3, 0.3, size=n_opps)
    opp = np.repeat(np.arange(n_opps), items)
    first = np.searchsorted(opp, np.arange(n_opps))
    # Distinct products per deal: a random start and a stride that is coprime with the product count.
    start = rng.integers(0, n_products, size=n_opps)
    stride = rng.choice([1, 3, 7, 9, 11, 13, 17, 19], size=n_opps)
    position = np.arange(len(opp)) - first[opp]
    product = (start[opp] + stride[opp] * position) % n_products
    renewal = np.array([kind == TYPE_RENEWAL for kind in outcome.opp_type])
    product = np.where(renewal[opp] & (position == 0), np.array(support)[start[opp] % len(support)], product)
    # The override can repeat a product already on the deal; drop such repeats.
    pairs = opp * n_products + product
    _, unique_rows = np.unique(pairs, return_index=True)
    unique_rows = np.sort(unique_rows)
    opp, product = opp[unique_rows], product[unique_rows]
    employees = world.accounts.employees[np.array(outcome.opp_account, dtype=np.int64)[opp]]
    seats = np.clip(np.round(np.exp(rng.normal(np.log1p(employees / 20), 0.5))), 1, 5000)
    quantity = np.where(seat[product], seats, 1).astype(np.int64)
    unit_price = np.round(list_price[product] * (1 - rng.uniform(0, 0.3, size=len(opp))), 2)
    return LineItems(opp, product, quantity, unit_price)
