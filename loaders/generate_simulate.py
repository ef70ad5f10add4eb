"""The day-by-day simulation of latent account intent and the opportunities, wins and job moves it causes.

Intent is kept per account as four components (committee engagement, single-contact engagement, champion
arrival, family purchase) that all decay with the world's half-life. Each day the hazard of opening a new
opportunity is `(base_hazard + hazard_per_intent * intent) * weekday_factor`, damped while a deal is open.
Everything done on day t uses only the state of days <= t, so no future leaks into the past.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from kgcrm.loaders import generate_vocab as vocab
from kgcrm.loaders.generate_entities import LOG_EMPLOYEES_MEAN, LOG_EMPLOYEES_SD, StaticWorld
from kgcrm.loaders.generate_params import WorldParams

COMPONENTS: tuple[str, ...] = ("committee_engagement", "single_contact_engagement", "champion_arrival", "family_purchase")
COMMITTEE, SINGLE, CHAMPION, FAMILY = range(4)
# A mechanism is named as a cause of an opening when it carries at least this share of that day's hazard.
CAUSE_SHARE = 0.25
# Engagement bursts per account and year, and how long one lasts.
COMMITTEE_BURSTS_PER_YEAR = 0.4
SINGLE_BURSTS_PER_YEAR = 0.45
BURST_WINDOW_DAYS = 10
# Contacts who change company: champions of won deals, and (as a control that carries no intent) anyone.
CHAMPION_MOVE_PROBABILITY = 0.4
RANDOM_MOVE_SHARE = 0.03
MIN_ROSTER = 3
# Day-of-week factor of deal openings and sales activity (Monday first), mean 1.
WEEKDAY_FACTOR = np.array([1.3, 1.3, 1.3, 1.3, 1.3, 0.15, 0.1]) / (6.75 / 7)
TYPE_NEW, TYPE_EXPANSION, TYPE_RENEWAL = "New Business", "Expansion", "Renewal"
_TECHNICAL_TITLES = {"CTO", "CIO", "VP Engineering", "Director of IT", "Head of Data", "IT Manager",
                     "Engineering Manager", "Software Engineer", "Systems Administrator"}
_FINANCE_TITLES = {"CFO", "Director of Finance", "Procurement Manager"}


@dataclass
class Bursts:
    """Engagement bursts planned before the simulation (they are exogenous), one row per activity."""

    account: np.ndarray  # per burst
    start_day: np.ndarray
    committee: np.ndarray  # bool: several contacts (else one contact)
    n_contacts: np.ndarray
    act_burst: np.ndarray  # per activity: its burst
    act_day: np.ndarray
    act_type: np.ndarray  # index into vocab.ENGAGEMENT_TYPES


@dataclass
class Outcome:
    """What the simulation decided; lists are filled as it runs, arrays are made at the end."""

    opp_account: list[int] = field(default_factory=list)
    opp_created: list[int] = field(default_factory=list)
    opp_close: list[int] = field(default_factory=list)
    opp_won: list[bool] = field(default_factory=list)
    opp_type: list[str] = field(default_factory=list)
    opp_cause: list[str] = field(default_factory=list)
    opp_intent: list[float] = field(default_factory=list)
    role_opp: list[int] = field(default_factory=list)
    role_contact: list[int] = field(default_factory=list)
    role_name: list[str] = field(default_factory=list)
    role_primary: list[bool] = field(default_factory=list)
    # Mechanism events (the ground truth of what raised intent where and when).
    event_account: list[int] = field(default_factory=list)
    event_day: list[int] = field(default_factory=list)
    event_mechanism: list[str] = field(default_factory=list)
    event_amount: list[float] = field(default_factory=list)
    # Job moves.
    move_contact: list[int] = field(default_factory=list)
    move_from: list[int] = field(default_factory=list)
    move_to: list[int] = field(default_factory=list)
    move_day: list[int] = field(default_factory=list)
    move_champion: list[bool] = field(default_factory=list)
    # Weekly snapshots of the intent components: shape (weeks, 4, accounts).
    intent_weeks: np.ndarray | None = None
    contact_created_day: np.ndarray | None = None
    account_created_day: np.ndarray | None = None

    def add_event(self, account: int, day: int, mechanism: str, amount: float) -> None:
        self.event_account.append(account)
        self.event_day.append(day)
        self.event_mechanism.append(mechanism)
        self.event_amount.append(amount)


def weekday_of(params: WorldParams, days: np.ndarray) -> np.ndarray:
    return (params.start.weekday() + days) % 7


def plan_bursts(rng: np.random.Generator, params: WorldParams, world: StaticWorld) -> Bursts:
    """Committee bursts (2-5 contacts) and single-contact bursts with the same number of activities."""
    n_accounts = world.accounts.count
    years = params.days / 365.0
    per_account = np.bincount(world.contacts.home, minlength=n_accounts)
    counts = []
    for committee, rate in ((True, COMMITTEE_BURSTS_PER_YEAR), (False, SINGLE_BURSTS_PER_YEAR)):
        n = rng.poisson(rate * years, size=n_accounts)
        counts.append((committee, np.repeat(np.arange(n_accounts), n)))
    account = np.concatenate([accounts for _, accounts in counts])
    committee = np.concatenate([np.full(len(accounts), flag) for flag, accounts in counts])
    start_day = rng.integers(0, params.days, size=len(account))
    wanted = 2 + rng.binomial(3, 0.5, size=len(account))
    n_contacts = np.where(committee, np.minimum(wanted, per_account[account] - 1), 1)
    n_acts = np.maximum(3 + rng.poisson(3, size=len(account)), n_contacts)
    act_burst = np.repeat(np.arange(len(account)), n_acts)
    offset = rng.integers(0, BURST_WINDOW_DAYS, size=len(act_burst))
    act_day = start_day[act_burst] + offset
    # People engage less at weekends: most weekend engagement moves to the Monday.
    weekend = weekday_of(params, act_day) >= 5
    shift = weekend & (rng.random(len(act_day)) < 0.7)
    act_day = act_day + np.where(shift, 7 - weekday_of(params, act_day), 0)
    act_type = rng.choice(len(vocab.ENGAGEMENT_TYPES), size=len(act_day), p=np.array(vocab.ENGAGEMENT_WEIGHTS) / sum(vocab.ENGAGEMENT_WEIGHTS))
    keep = act_day < params.days
    order = np.argsort(act_day[keep], kind="stable")
    return Bursts(
        account=account,
        start_day=start_day,
        committee=committee,
        n_contacts=n_contacts,
        act_burst=act_burst[keep][order],
        act_day=act_day[keep][order],
        act_type=act_type[keep][order],
    )


class Simulation:
    """Runs the world forward one day at a time; see the module docstring for the model."""

    def __init__(self, rng: np.random.Generator, params: WorldParams, world: StaticWorld, bursts: Bursts) -> None:
        self.rng = rng
        self.params = params
        self.signal = params.signal
        self.world = world
        self.bursts = bursts
        accounts, contacts = world.accounts, world.contacts
        self.n_accounts = accounts.count
        self.size_z = (np.log(accounts.employees) - LOG_EMPLOYEES_MEAN) / LOG_EMPLOYEES_SD
        self.comps = np.zeros((4, self.n_accounts))
        self.is_customer = accounts.is_customer.copy()
        self.open_until = np.full(self.n_accounts, -1, dtype=np.int64)
        self.rosters: list[list[int]] = [[] for _ in range(self.n_accounts)]
        for contact, account in enumerate(contacts.home.tolist()):
            self.rosters[account].append(contact)
        self.contact_account = contacts.home.copy()
        self.moved = np.zeros(contacts.count, dtype=bool)
        self.children: list[list[int]] = [[] for _ in range(self.n_accounts)]
        for child in np.flatnonzero(accounts.parent >= 0).tolist():
            self.children[int(accounts.parent[child])].append(child)
        self.title_names = [row[0] for row in vocab.TITLES]
        self.seniority = np.array([vocab.SENIORITY_RANK[row[2]] for row in vocab.TITLES])
        self.schedule: list[list[tuple]] = [[] for _ in range(params.days)]
        self.out = Outcome(contact_created_day=contacts.created_day.copy(), account_created_day=accounts.created_day.copy())
        self._champion_of: dict[int, int] = {}
        self._burst_impulses()

    def _burst_impulses(self) -> None:
        bursts = self.bursts
        n_acts = np.bincount(bursts.act_burst, minlength=len(bursts.account))
        per_burst = np.where(bursts.committee, self.signal.committee_burst, self.signal.single_contact_burst)
        self.impulse_day = bursts.act_day
        self.impulse_account = bursts.account[bursts.act_burst]
        self.impulse_component = np.where(bursts.committee[bursts.act_burst], COMMITTEE, SINGLE)
        self.impulse_amount = per_burst[bursts.act_burst] / np.maximum(n_acts[bursts.act_burst], 1)
        self.impulse_bounds = np.searchsorted(self.impulse_day, np.arange(self.params.days + 1))
        for burst in range(len(bursts.account)):
            if bursts.start_day[burst] < self.params.days:
                mechanism = COMPONENTS[COMMITTEE if bursts.committee[burst] else SINGLE]
                self.out.add_event(int(bursts.account[burst]), int(bursts.start_day[burst]), mechanism, float(per_burst[burst]))

    # Planning before day 0.
    def plan_history_and_renewals(self) -> None:
        """Initial customers won a New Business deal before the period, and renew it every year."""
        rng, days = self.rng, self.params.days
        accounts = self.world.accounts
        for account in np.flatnonzero(accounts.is_customer).tolist():
            created = int(rng.integers(-720, -90))
            self.out.account_created_day[account] = min(self.out.account_created_day[account], created - 30)
            opp = self._open(account, created, TYPE_NEW, "history", 0.0, won=True, cycle=int(rng.integers(20, 80)))
            self._maybe_plan_champion_move(opp, int(rng.integers(0, days)))
            anniversary = int(rng.integers(0, 365))
            for renewal_day in range(anniversary - 60, days, 365):
                if renewal_day >= 0:
                    self.schedule[renewal_day].append(("renewal", account))
        contacts = self.world.contacts
        per_account = np.bincount(contacts.home, minlength=self.n_accounts)
        movable = np.flatnonzero(per_account[contacts.home] >= 5)
        movers = rng.choice(movable, size=min(len(movable), round(RANDOM_MOVE_SHARE * contacts.count)), replace=False)
        for contact, day in zip(movers.tolist(), rng.integers(0, days, size=len(movers)).tolist()):
            self.schedule[day].append(("move", contact, False))

    def _maybe_plan_champion_move(self, opp: int, day: int) -> None:
        champion = self._champion_of.get(opp)
        if champion is not None and self.rng.random() < CHAMPION_MOVE_PROBABILITY and 0 <= day < self.params.days:
            self.schedule[day].append(("move", champion, True))

    # The day loop.
    def run(self, quiet: bool) -> Outcome:
        self.plan_history_and_renewals()
        params, signal, out = self.params, self.signal, self.out
        decay = params.daily_decay
        weekday = weekday_of(params, np.arange(params.days))
        base = self.world.accounts.base_hazard
        snapshots = []
        for day in tqdm(range(params.days), desc="simulate days", unit="day", disable=quiet, leave=False):
            self.comps *= decay
            lo, hi = self.impulse_bounds[day], self.impulse_bounds[day + 1]
            if hi > lo:
                np.add.at(self.comps, (self.impulse_component[lo:hi], self.impulse_account[lo:hi]), self.impulse_amount[lo:hi])
            for event in self.schedule[day]:
                self._handle(event, day)
            if day % 7 == 0:
                snapshots.append(self.comps.astype(np.float32))
            intent = self.comps.sum(axis=0)
            damping = np.where(self.open_until >= day, signal.open_deal_damping, 1.0)
            hazard = (base + signal.hazard_per_intent * intent) * WEEKDAY_FACTOR[weekday[day]] * damping
            opened = np.flatnonzero(self.rng.random(self.n_accounts) < -np.expm1(-hazard))
            for account in opened.tolist():
                shares = signal.hazard_per_intent * self.comps[:, account] / (base[account] + signal.hazard_per_intent * intent[account])
                cause = "+".join(COMPONENTS[k] for k in range(4) if shares[k] >= CAUSE_SHARE) or "baseline"
                kind = TYPE_EXPANSION if self.is_customer[account] else TYPE_NEW
                self._open(account, day, kind, cause, float(intent[account]))
            self.comps[:, opened] *= signal.kept_after_opening
        out.intent_weeks = np.stack(snapshots)
        return out

    def _handle(self, event: tuple, day: int) -> None:
        kind = event[0]
        if kind == "move":
            self._move(event[1], day, event[2])
        elif kind == "renewal":
            self._open(event[1], day, TYPE_RENEWAL, "renewal_schedule", float(self.comps[:, event[1]].sum()))
        elif kind == "won":
            self._won(event[1], day)

    def _relatives(self, account: int) -> list[int]:
        parent = int(self.world.accounts.parent[account])
        family = list(self.children[account])
        if parent >= 0:
            family.append(parent)
            family += [sibling for sibling in self.children[parent] if sibling != account]
        return family

    def _won(self, opp: int, day: int) -> None:
        account = self.out.opp_account[opp]
        if self.out.opp_type[opp] == TYPE_RENEWAL:
            return
        self.is_customer[account] = True
        for relative in self._relatives(account):
            self.comps[FAMILY, relative] += self.signal.family_purchase
            self.out.add_event(relative, day, COMPONENTS[FAMILY], self.signal.family_purchase)
        self._maybe_plan_champion_move(opp, day + 30 + int(self.rng.exponential(120)))

    def _move(self, contact: int, day: int, champion: bool) -> None:
        source = int(self.contact_account[contact])
        if self.moved[contact] or len(self.rosters[source]) <= MIN_ROSTER:
            return
        roots = self.world.accounts.root
        target = int(self.rng.integers(self.n_accounts))
        for _ in range(5):
            if roots[target] != roots[source]:
                break
            target = int(self.rng.integers(self.n_accounts))
        else:
            return
        self.rosters[source].remove(contact)
        self.rosters[target].append(contact)
        self.contact_account[contact] = target
        self.moved[contact] = True
        out = self.out
        out.move_contact.append(contact)
        out.move_from.append(source)
        out.move_to.append(target)
        out.move_day.append(day)
        out.move_champion.append(champion)
        if champion:
            self.comps[CHAMPION, target] += self.signal.champion_arrival
            out.add_event(target, day, COMPONENTS[CHAMPION], self.signal.champion_arrival)
        else:
            out.add_event(target, day, "non_champion_arrival", 0.0)

    def _open(self, account: int, day: int, kind: str, cause: str, intent: float,
              won: bool | None = None, cycle: int | None = None) -> int:
        """Open a deal with a buying committee drawn from the account's current contacts; return its index."""
        rng, out = self.rng, self.out
        opp = len(out.opp_account)
        roster = self.rosters[account]
        wanted = 3 + rng.poisson(1.0 + 0.8 * max(self.size_z[account], 0.0))
        size = int(min(max(wanted, 3), 12, len(roster)))
        members = [roster[i] for i in rng.choice(len(roster), size=size, replace=False)]
        champion = self._assign_roles(opp, members, with_champion=kind != TYPE_RENEWAL and rng.random() < 0.75)
        if champion is not None:
            self._champion_of[opp] = champion
            # Whoever sat on a committee existed in the CRM by then.
            out.contact_created_day[champion] = min(out.contact_created_day[champion], day - 1)
        for member in members:
            out.contact_created_day[member] = min(out.contact_created_day[member], day - 1)
        if won is None:
            p_win = 0.85 if kind == TYPE_RENEWAL else 0.28 + 0.2 * (champion is not None) + 0.15 * min(intent / 1.5, 1.0)
            won = bool(rng.random() < p_win)
        if cycle is None:
            cycle = 7 + int(np.exp(rng.normal(np.log(45) + 0.15 * self.size_z[account], 0.5)))
        close = day + cycle
        out.opp_account.append(account)
        out.opp_created.append(day)
        out.opp_close.append(close)
        out.opp_won.append(won)
        out.opp_type.append(kind)
        out.opp_cause.append(cause)
        out.opp_intent.append(intent)
        if kind != TYPE_RENEWAL and day >= 0:
            self.open_until[account] = max(self.open_until[account], close)
        if won and 0 <= close < self.params.days:
            self.schedule[close].append(("won", opp))
        return opp

    def _assign_roles(self, opp: int, members: list[int], with_champion: bool) -> int | None:
        """Most senior → Decision Maker, a finance title → Economic Buyer, maybe a Champion and a Blocker."""
        rng, out = self.rng, self.out
        titles = self.world.contacts.title
        order = sorted(members, key=lambda c: -self.seniority[titles[c]])
        roles: dict[int, str] = {order[0]: "Decision Maker"}
        rest = order[1:]
        finance = [c for c in rest if self.title_names[titles[c]] in _FINANCE_TITLES]
        buyer = finance[0] if finance else rest[0]
        roles[buyer] = "Economic Buyer"
        rest = [c for c in rest if c != buyer]
        champion = None
        if with_champion and rest:
            champion = rest[int(rng.integers(len(rest)))]
            roles[champion] = "Champion"
            rest = [c for c in rest if c != champion]
        if rest and rng.random() < 0.12:
            blocker = rest[int(rng.integers(len(rest)))]
            roles[blocker] = "Blocker"
            rest = [c for c in rest if c != blocker]
        for contact in rest:
            title = self.title_names[titles[contact]]
            if title in _TECHNICAL_TITLES:
                roles[contact] = "Technical Buyer"
            else:
                roles[contact] = "User" if self.seniority[titles[contact]] == 0 else "Influencer"
        primary = champion if champion is not None else order[0]
        for contact in members:
            out.role_opp.append(opp)
            out.role_contact.append(contact)
            out.role_name.append(roles[contact])
            out.role_primary.append(contact == primary)
        return champion


def simulate(rng: np.random.Generator, params: WorldParams, world: StaticWorld, quiet: bool) -> tuple[Bursts, Outcome]:
    """Plan the exogenous engagement bursts, then run the days."""
    bursts = plan_bursts(rng, params, world)
    return bursts, Simulation(rng, params, world, bursts).run(quiet)
