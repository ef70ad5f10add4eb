"""The static part of the synthetic world: sellers, accounts and their subsidiary trees, contacts, products, campaigns.

Every array is indexed by the entity's position (0-based); days count from the world's start (negative = before).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kgcrm.loaders import generate_vocab as vocab
from kgcrm.loaders.generate_params import WorldParams

# log(employees) is drawn from N(LOG_EMPLOYEES_MEAN, LOG_EMPLOYEES_SD): a heavy-tailed size distribution.
LOG_EMPLOYEES_MEAN = 4.2
LOG_EMPLOYEES_SD = 1.5
# The base daily hazard of a new opportunity for a median-size account in a neutral industry.
BASE_HAZARD = 0.0007
SIZE_EFFECT = 0.35
CUSTOMER_EFFECT = 0.4
HIDDEN_EFFECT_SD = 0.3


@dataclass
class Users:
    first: np.ndarray
    last: np.ndarray
    role: np.ndarray  # "rep" | "manager" | "admin"
    manager: np.ndarray  # user index or -1
    region: np.ndarray  # index into vocab.REGIONS
    created_day: np.ndarray

    @property
    def count(self) -> int:
        return len(self.role)


@dataclass
class Accounts:
    name: np.ndarray
    website: np.ndarray
    industry: np.ndarray
    country: np.ndarray
    employees: np.ndarray
    revenue: np.ndarray
    parent: np.ndarray  # account index or -1
    root: np.ndarray  # the top of the account's subsidiary tree
    owner: np.ndarray
    created_day: np.ndarray
    is_customer: np.ndarray  # a customer when the period starts (Account.Type)
    base_hazard: np.ndarray  # daily hazard of a new opportunity without intent

    @property
    def count(self) -> int:
        return len(self.parent)


@dataclass
class Contacts:
    first: np.ndarray
    last: np.ndarray
    title: np.ndarray  # index into vocab.TITLES
    home: np.ndarray  # the account the contact works at when the period starts
    created_day: np.ndarray

    @property
    def count(self) -> int:
        return len(self.home)


@dataclass
class Campaigns:
    type: np.ndarray  # index into vocab.CAMPAIGN_TYPES
    topic: np.ndarray
    start_day: np.ndarray
    end_day: np.ndarray
    owner: np.ndarray
    webinar_of_month: np.ndarray  # for each month of the period, the campaign covering its webinars

    @property
    def count(self) -> int:
        return len(self.type)


@dataclass
class StaticWorld:
    users: Users
    accounts: Accounts
    contacts: Contacts
    campaigns: Campaigns
    month_start_days: np.ndarray  # day offset of the first day of each month of the period (and the end)


def _shares(table: tuple, column: int = 1) -> np.ndarray:
    weights = np.array([row[column] for row in table], dtype=float)
    return weights / weights.sum()


def make_users(rng: np.random.Generator, n_accounts: int) -> Users:
    """Reps (about one per 80 accounts) in every region, a manager per eight reps, a head of sales and an admin."""
    region_share = np.zeros(len(vocab.REGIONS))
    for _, share, region in vocab.COUNTRIES:
        region_share[vocab.REGIONS.index(region)] += share
    n_reps = np.maximum(1, np.round(region_share / region_share.sum() * max(4, n_accounts // 80))).astype(int)
    roles, managers, regions = ["manager", "admin"], [-1, -1], [0, 0]
    for region, reps in enumerate(n_reps):
        first_manager = len(roles)
        n_managers = int(np.ceil(reps / 8))
        roles += ["manager"] * n_managers
        managers += [0] * n_managers
        regions += [region] * n_managers
        roles += ["rep"] * int(reps)
        managers += (first_manager + np.arange(reps) % n_managers).tolist()
        regions += [region] * int(reps)
    count = len(roles)
    return Users(
        first=rng.integers(len(vocab.FIRST_NAMES), size=count),
        last=rng.integers(len(vocab.LAST_NAMES), size=count),
        role=np.array(roles),
        manager=np.array(managers),
        region=np.array(regions),
        created_day=-rng.integers(60, 2000, size=count),
    )


def _subsidiary_trees(rng: np.random.Generator, employees: np.ndarray) -> np.ndarray:
    """About 12% of accounts get a parent; parents are big companies, a few of which have a parent themselves."""
    count = len(employees)
    parent = np.full(count, -1)
    n_parents = max(1, round(0.045 * count))
    weight = np.sqrt(employees.astype(float))
    parents = rng.choice(count, size=n_parents, replace=False, p=weight / weight.sum())
    is_parent = np.zeros(count, dtype=bool)
    is_parent[parents] = True
    others = np.flatnonzero(~is_parent)
    children = rng.choice(others, size=min(len(others), round(0.12 * count)), replace=False)
    parent_weight = weight[parents] / weight[parents].sum()
    parent[children] = rng.choice(parents, size=len(children), p=parent_weight)
    # Grand-parents: a parent may belong to another parent that comes earlier in `parents` (so no cycles).
    for position in np.flatnonzero(rng.random(n_parents) < 0.15):
        if position > 0:
            parent[parents[position]] = parents[rng.integers(position)]
    return parent


def _roots(parent: np.ndarray) -> np.ndarray:
    root = np.arange(len(parent))
    for _ in range(len(parent)):
        above = parent[root]
        has_parent = above >= 0
        if not has_parent.any():
            break
        root = np.where(has_parent, above, root)
    return root


def _dedupe(names: list[str]) -> list[str]:
    """Append 2, 3, ... to repeated names so domains and e-mails stay unique keys."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        times = seen.get(name, 0) + 1
        seen[name] = times
        out.append(name if times == 1 else f"{name}{times}")
    return out


def make_accounts(rng: np.random.Generator, count: int, users: Users, seed: int = 0) -> Accounts:
    industry = rng.choice(len(vocab.INDUSTRIES), size=count, p=_shares(vocab.INDUSTRIES))
    country = rng.choice(len(vocab.COUNTRIES), size=count, p=_shares(vocab.COUNTRIES))
    log_employees = rng.normal(LOG_EMPLOYEES_MEAN, LOG_EMPLOYEES_SD, size=count)
    employees = np.clip(np.exp(log_employees), 1, 400_000).astype(np.int64)
    revenue = np.round(employees * np.exp(rng.normal(11.9, 0.5, size=count)), -3)
    parent = _subsidiary_trees(rng, employees)
    size_z = (np.log(employees) - LOG_EMPLOYEES_MEAN) / LOG_EMPLOYEES_SD
    is_customer = rng.random(count) < 1 / (1 + np.exp(-(-0.9 + 0.5 * size_z)))
    industry_effect = np.array([row[2] for row in vocab.INDUSTRIES])[industry]
    base_hazard = BASE_HAZARD * np.exp(
        SIZE_EFFECT * size_z + industry_effect + CUSTOMER_EFFECT * is_customer
        + rng.normal(0, HIDDEN_EFFECT_SD, size=count)
    )
    region_of_country = np.array([vocab.REGIONS.index(row[2]) for row in vocab.COUNTRIES])
    owner = np.empty(count, dtype=np.int64)
    reps = np.flatnonzero(users.role == "rep")
    for region in range(len(vocab.REGIONS)):
        here = np.flatnonzero(region_of_country[country] == region)
        region_reps = reps[users.region[reps] == region]
        owner[here] = region_reps[rng.integers(len(region_reps), size=len(here))]
    heads = rng.integers(len(vocab.COMPANY_HEADS), size=count)
    tails = rng.integers(len(vocab.COMPANY_TAILS), size=count)
    suffixes = rng.integers(len(vocab.COMPANY_SUFFIXES), size=count)
    # Trade words come from their own generator, so adding them left every other draw of a seed unchanged.
    name_rng = np.random.default_rng([seed, 11])
    trades = np.where(name_rng.random(count) < 0.1, -1, name_rng.integers(len(vocab.COMPANY_TRADES), size=count))
    trade_words = [f" {vocab.COMPANY_TRADES[t]}" if t >= 0 else "" for t in trades.tolist()]
    names = [f"{vocab.COMPANY_HEADS[h]}{vocab.COMPANY_TAILS[t]}{trade} {vocab.COMPANY_SUFFIXES[s]}"
             for h, t, trade, s in zip(heads, tails, trade_words, suffixes)]
    # Company names may repeat, as in any CRM; web domains are identity keys and must not.
    domains = _dedupe([name.replace(" ", "-").lower() for name in names])
    return Accounts(
        name=np.array(names),
        website=np.array([f"www.{domain}.com" for domain in domains]),
        industry=industry,
        country=country,
        employees=employees,
        revenue=revenue,
        parent=parent,
        root=_roots(parent),
        owner=owner,
        created_day=-rng.integers(30, 1500, size=count),
        is_customer=is_customer,
        base_hazard=base_hazard,
    )


def make_contacts(rng: np.random.Generator, accounts: Accounts) -> Contacts:
    """4 to 60 contacts per account, more at bigger companies (mean about 8.5)."""
    size_z = (np.log(accounts.employees) - LOG_EMPLOYEES_MEAN) / LOG_EMPLOYEES_SD
    extra = np.floor(np.exp(rng.normal(np.log(3.5) + 0.4 * size_z, 0.7))).astype(np.int64)
    per_account = np.clip(4 + extra, 4, 60)
    home = np.repeat(np.arange(accounts.count), per_account)
    count = len(home)
    created_day = np.maximum(accounts.created_day[home], -rng.integers(1, 1400, size=count))
    return Contacts(
        first=rng.integers(len(vocab.FIRST_NAMES), size=count),
        last=rng.integers(len(vocab.LAST_NAMES), size=count),
        title=rng.choice(len(vocab.TITLES), size=count, p=_shares(vocab.TITLES)),
        home=home,
        created_day=created_day,
    )


def make_campaigns(rng: np.random.Generator, month_start_days: np.ndarray, users: Users) -> Campaigns:
    """One webinar series per month (where webinar attendances point) plus about four other campaigns a month."""
    months = len(month_start_days) - 1
    webinar_type = [row[0] for row in vocab.CAMPAIGN_TYPES].index("Webinar")
    n_other = 4 * months
    types = np.concatenate([np.full(months, webinar_type), rng.choice(len(vocab.CAMPAIGN_TYPES), size=n_other, p=_shares(vocab.CAMPAIGN_TYPES))])
    other_start = rng.integers(-60, month_start_days[-1], size=n_other)
    start = np.concatenate([month_start_days[:-1], other_start])
    end = np.concatenate([month_start_days[1:] - 1, other_start + rng.integers(1, 45, size=n_other)])
    marketers = np.flatnonzero(users.role != "rep")
    return Campaigns(
        type=types,
        topic=rng.integers(len(vocab.CAMPAIGN_TOPICS), size=len(types)),
        start_day=start,
        end_day=end,
        owner=marketers[rng.integers(len(marketers), size=len(types))],
        webinar_of_month=np.arange(months),
    )


def month_starts(params: WorldParams) -> np.ndarray:
    """Day offsets of the first day of every month in the period, and of the end."""
    start = np.datetime64(params.start, "M")
    months = np.arange(start, start + params.months + 1)
    days = (months.astype("datetime64[D]") - np.datetime64(params.start, "D")).astype(np.int64).clip(0, params.days)
    days[-1] = params.days
    return days


def make_static_world(rng: np.random.Generator, params: WorldParams) -> StaticWorld:
    users = make_users(rng, params.accounts)
    accounts = make_accounts(rng, params.accounts, users, params.seed)
    contacts = make_contacts(rng, accounts)
    months = month_starts(params)
    return StaticWorld(users, accounts, contacts, make_campaigns(rng, months, users), months)
