"""Precision and recall of identity resolution on a labelled population with injected duplicates.

The population is written under two sources of its own (`identity_eval_a`, `identity_eval_b`),
resolved with the scope limited to those sources, scored against the known truth and deleted again,
so running it next to real data neither reads nor changes that data.

`evaluate_world` scores a generated world instead (`kgcrm generate --duplicates`): its Salesforce export
and the HubSpot second source, loaded through the real loaders, against `ground_truth/duplicates.csv`.
"""

from __future__ import annotations

import csv
import logging
import random
import string
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from kgcrm.graph.driver import Graph
from kgcrm.graph.errors import InvalidInput
from kgcrm.graph.model import Label
from kgcrm.graph.queries import identity as q
from kgcrm.loaders.generate_duplicates import DUPLICATES_FILE
from kgcrm.loaders.generate_truth import GROUND_TRUTH_DIR
from kgcrm.loaders.identity import Thresholds, UnionFind, resolve
from kgcrm.loaders.identity_normalize import ascii_fold

logger = logging.getLogger(__name__)

SOURCE_A = "identity_eval_a"
SOURCE_B = "identity_eval_b"
EVAL_SOURCES = (SOURCE_A, SOURCE_B)

_INDUSTRY_WORDS = (
    "Logistics", "Labs", "Systems", "Analytics", "Foods", "Energy", "Health", "Robotics", "Media",
    "Capital", "Software", "Networks", "Motors", "Textiles", "Pharma", "Dynamics", "Consulting",
    "Security", "Biotech", "Retail", "Aerospace", "Solutions", "Partners", "Industries",
)
_LEADING_WORDS = ("Northern", "Pacific", "United", "Global", "First", "Atlantic", "Royal", "Central", "Summit", "Silver")
_LEGAL = ("Inc", "Inc.", "LLC", "Ltd", "GmbH", "Corp", "Corporation", "Co.", "PLC", "")
_TLDS = ("com", "com", "com", "io", "net", "de", "co.uk")
_FIRST = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth",
    "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Christopher", "Nancy", "Daniel", "Lisa", "Matthew", "Betty", "Anthony", "Margaret", "Mark", "Sandra",
    "Donald", "Ashley", "Steven", "Kimberly", "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle",
    "Kenneth", "Dorothy", "Kevin", "Carol", "Brian", "Amanda", "George", "Melissa", "Timothy", "Deborah",
    "Jürgen", "Zoë", "Amélie", "Søren", "Hiroshi", "Priya", "Chen", "Fatima", "Olumide", "Ingrid",
)
_LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "Müller", "Schmidt", "O'Brien", "Kowalski", "Tanaka", "Okafor", "Larsen", "Dubois", "Rossi", "Novak",
    "Fischer", "Weber", "Sato", "Kim", "Park", "Singh", "Patel", "Kumar", "Ali", "Haddad",
)

# Kinds of injected duplicates; the method a kind is meant to exercise is in docs/identity.md.
ACCOUNT_KINDS = ("same_domain", "case_and_suffix", "name_typo", "alias_acronym")
CONTACT_KINDS = ("email_case", "email_mailbox", "same_name_same_company", "name_typo_same_company")


@dataclass(frozen=True)
class EvalConfig:
    seed: int = 7
    accounts: int = 2000
    contacts_per_account: int = 2
    account_duplicate_rate: float = 0.3
    contact_duplicate_rate: float = 0.3
    # Companies that share a leading word with another (e.g. "Zentora Labs", "Zentora Media"): hard negatives.
    sibling_rate: float = 0.05


@dataclass
class Population:
    accounts: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    # node id -> entity key (the truth) and duplicate node id -> injected kind.
    entity_of: dict[str, str] = field(default_factory=dict)
    kind_of: dict[str, str] = field(default_factory=dict)


@dataclass
class Scores:
    """Precision and recall of one label, for merges alone and for merges plus the review queue."""

    label: str
    records: int
    true_pairs: int
    merged_precision: float
    merged_recall: float
    queued_precision: float
    queued_recall: float
    precision_by_method: dict[str, tuple[float, int]]
    recall_by_kind: dict[str, tuple[float, int]]
    decisions_by_status: dict[str, int]


@dataclass
class EvalResult:
    config: EvalConfig
    thresholds: Thresholds
    scores: list[Scores]
    seconds_resolve: float


def _brand(rng: random.Random, taken: set[str]) -> str:
    consonants, vowels = "bcdfghklmnprstvz", "aeiou"
    while True:
        syllables = rng.randint(2, 3)
        word = "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(syllables))
        word += rng.choice(("", "n", "x", "r", "s", "t"))
        if word not in taken and len(word) >= 4:
            taken.add(word)
            return word.capitalize()


def _typo(rng: random.Random, word: str) -> str:
    """One keyboard slip: a letter changed, dropped, doubled or two letters swapped."""
    if len(word) < 4:
        return word + rng.choice(string.ascii_lowercase)
    i = rng.randrange(1, len(word) - 1)
    op = rng.choice(("substitute", "delete", "insert", "transpose"))
    if op == "substitute":
        letter = rng.choice([c for c in string.ascii_lowercase if c != word[i].lower()])
        return word[:i] + letter + word[i + 1 :]
    if op == "delete":
        return word[:i] + word[i + 1 :]
    if op == "insert":
        return word[:i] + word[i] + word[i:]
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]


def _company_core(rng: random.Random, brand: str) -> str:
    shape = rng.random()
    if shape < 0.2:
        return f"{rng.choice(_LEADING_WORDS)} {brand} {rng.choice(_INDUSTRY_WORDS)}"
    if shape < 0.7:
        return f"{brand} {rng.choice(_INDUSTRY_WORDS)}"
    return brand


def _with_legal(rng: random.Random, core: str) -> str:
    legal = rng.choice(_LEGAL)
    if not legal:
        return core
    return f"{core}, {legal}" if rng.random() < 0.3 else f"{core} {legal}"


def _created(rng: random.Random) -> str:
    start = datetime(2018, 1, 1, tzinfo=timezone.utc)
    return (start + timedelta(days=rng.randrange(0, 2000))).isoformat()


def build_population(config: EvalConfig) -> Population:
    """Companies and people from source A, and for a known share of them a second record from B."""
    rng = random.Random(config.seed)
    pop = Population()
    taken: set[str] = set()
    used_stems: set[str] = set()
    used_cores: set[str] = set()
    companies: list[dict[str, Any]] = []
    for index in range(config.accounts):
        if companies and rng.random() < config.sibling_rate:
            # A sibling reuses another company's brand with a different trade: same first word, other firm.
            brand = companies[rng.randrange(len(companies))]["brand"]
        else:
            brand = _brand(rng, taken)
        core = _company_core(rng, brand)
        while core.lower() in used_cores:
            # Two firms never share a name here: a shared name would make the truth itself ambiguous.
            core = f"{brand} {rng.choice(_INDUSTRY_WORDS)}"
        used_cores.add(core.lower())
        stem = brand.lower()
        if stem in used_stems:
            # Siblings have their own site: the brand and the trade, or a number when that is taken too.
            stem = core.lower().replace(" ", "")
            stem = stem if stem not in used_stems else f"{stem}{index}"
        used_stems.add(stem)
        domain = f"{stem}.{rng.choice(_TLDS)}"
        companies.append({"brand": brand, "core": core, "domain": domain})
        account_id = f"{SOURCE_A}:acc{index}"
        pop.accounts.append({
            "id": account_id, "source": SOURCE_A, "source_id": f"acc{index}", "name": _with_legal(rng, core),
            "domain": domain if rng.random() < 0.9 else None, "website": None, "created_at": _created(rng),
        })
        pop.entity_of[account_id] = f"company{index}"

    b_account_of: dict[int, str] = {}
    for index, company in enumerate(companies):
        if rng.random() >= config.account_duplicate_rate:
            continue
        kind = rng.choice(ACCOUNT_KINDS)
        words = company["core"].split()
        if kind == "alias_acronym" and len(words) < 3:
            kind = "name_typo"
        if kind == "same_domain":
            name, domain, website = _with_legal(rng, company["core"].upper() if rng.random() < 0.5 else company["core"]), None, f"https://www.{company['domain']}/"
        elif kind == "case_and_suffix":
            variant = company["core"].upper() if rng.random() < 0.5 else company["core"].lower()
            name, domain, website = _with_legal(rng, variant), None, None
        elif kind == "name_typo":
            brand = company["brand"]
            name, domain, website = _with_legal(rng, company["core"].replace(brand, _typo(rng, brand), 1)), None, None
        else:
            acronym = "".join(w[0] for w in words).upper()
            name, domain, website = _with_legal(rng, acronym), None, None
        account_id = f"{SOURCE_B}:acc{index}"
        pop.accounts.append({
            "id": account_id, "source": SOURCE_B, "source_id": f"acc{index}", "name": name,
            "domain": domain, "website": website, "created_at": _created(rng),
        })
        pop.entity_of[account_id] = f"company{index}"
        pop.kind_of[account_id] = kind
        b_account_of[index] = account_id

    person = 0
    used_emails: set[str] = set()
    for index, company in enumerate(companies):
        for _ in range(config.contacts_per_account):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            local = ascii_fold(f"{first}.{last}").replace("'", "")
            domain = "gmail.com" if rng.random() < 0.15 else company["domain"]
            # An address belongs to one person: a namesake gets a number, as mail providers do.
            email, suffix = f"{local}@{domain}", 2
            while email in used_emails:
                email, suffix = f"{local}{suffix}@{domain}", suffix + 1
            used_emails.add(email)
            contact_id = f"{SOURCE_A}:con{person}"
            pop.contacts.append({
                "id": contact_id, "source": SOURCE_A, "source_id": f"con{person}", "name": f"{first} {last}",
                "email": email, "account_id": f"{SOURCE_A}:acc{index}", "created_at": _created(rng),
            })
            pop.entity_of[contact_id] = f"person{person}"
            if rng.random() < config.contact_duplicate_rate:
                _add_contact_duplicate(rng, pop, person, first, last, email, company, b_account_of.get(index) or f"{SOURCE_A}:acc{index}")
            person += 1
    return pop


def _add_contact_duplicate(
    rng: random.Random, pop: Population, person: int, first: str, last: str, email: str,
    company: dict[str, Any], account_id: str,
) -> None:
    kind = rng.choice(CONTACT_KINDS)
    if kind == "email_mailbox" and not email.endswith("@gmail.com"):
        kind = "email_case"
    name = f"{first} {last}"
    if kind == "email_case":
        new_email, new_name = f"  {email.upper()} " if rng.random() < 0.5 else email.capitalize(), name.upper()
    elif kind == "email_mailbox":
        local = email.split("@")[0]
        new_local = local.replace(".", "") if rng.random() < 0.5 else f"{local}+crm"
        new_email, new_name = f"{new_local}@gmail.com", name
    elif kind == "same_name_same_company":
        new_email = f"{first[0]}{last}@{company['domain']}".lower().replace("'", "") if rng.random() < 0.5 else None
        new_name = f"{first.upper()} {last}"
    else:
        new_email, new_name = None, f"{first} {_typo(rng, last)}" if rng.random() < 0.5 else f"{_typo(rng, first)} {last}"
    contact_id = f"{SOURCE_B}:con{person}"
    pop.contacts.append({
        "id": contact_id, "source": SOURCE_B, "source_id": f"con{person}", "name": new_name, "email": new_email,
        "account_id": account_id, "created_at": _created(rng),
    })
    pop.entity_of[contact_id] = f"person{person}"
    pop.kind_of[contact_id] = kind


def delete_population(graph: Graph) -> int:
    """Remove every node of the evaluation sources (and their relationships), in batches."""
    deleted = 0
    for label in (Label.CONTACT, Label.ACCOUNT):
        while True:
            count = graph.write(q.delete_sources(label), {"sources": list(EVAL_SOURCES), "limit": 5000})[0]["deleted"]
            deleted += count
            if not count:
                break
    return deleted


def write_population(graph: Graph, pop: Population) -> None:
    batch = graph.settings.batch_size
    for start in range(0, len(pop.accounts), batch):
        graph.write(q.UPSERT_EVAL_ACCOUNTS, {"rows": pop.accounts[start : start + batch]})
    for start in range(0, len(pop.contacts), batch):
        graph.write(q.UPSERT_EVAL_CONTACTS, {"rows": pop.contacts[start : start + batch]})


def _pairs_in_clusters(edges: list[tuple[str, str]]) -> set[frozenset[str]]:
    uf = UnionFind()
    for a, b in edges:
        uf.union(a, b)
    groups: dict[str, list[str]] = defaultdict(list)
    for node in list(uf.parent):
        groups[uf.find(node)].append(node)
    pairs = set()
    for members in groups.values():
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                pairs.add(frozenset((a, b)))
    return pairs


def _ratio(hits: int, total: int) -> float:
    return hits / total if total else 1.0


def score_label(graph: Graph, label: Label, pop: Population, records: list[dict[str, Any]],
                sources: tuple[str, ...] = EVAL_SOURCES) -> Scores:
    """Pairwise precision and recall of one label's decisions against the population's truth."""
    ids = [r["id"] for r in records]
    by_entity: dict[str, list[str]] = defaultdict(list)
    for node_id in ids:
        by_entity[pop.entity_of[node_id]].append(node_id)
    true_pairs = {frozenset((a, b)) for members in by_entity.values() for i, a in enumerate(members) for b in members[i + 1 :]}

    rows = graph.read(q.decisions_in_scope(label), {"sources": list(sources)})
    statuses = Counter(r["status"] for r in rows)
    merged_edges = [(r["a"], r["b"]) for r in rows if r["status"] in q.MERGE_STATUSES]
    queued_edges = merged_edges + [(r["a"], r["b"]) for r in rows if r["status"] == q.PENDING]
    merged_pairs, queued_pairs = _pairs_in_clusters(merged_edges), _pairs_in_clusters(queued_edges)

    by_method: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        if r["status"] != q.REJECTED:
            by_method[r["method"]].append(pop.entity_of[r["a"]] == pop.entity_of[r["b"]])
    by_kind: dict[str, list[bool]] = defaultdict(list)
    originals = {pop.entity_of[i]: i for i in ids if i not in pop.kind_of}
    for node_id in ids:
        kind = pop.kind_of.get(node_id)
        if kind:
            by_kind[kind].append(frozenset((node_id, originals[pop.entity_of[node_id]])) in queued_pairs)

    return Scores(
        label=label.value,
        records=len(ids),
        true_pairs=len(true_pairs),
        merged_precision=_ratio(len(merged_pairs & true_pairs), len(merged_pairs)),
        merged_recall=_ratio(len(merged_pairs & true_pairs), len(true_pairs)),
        queued_precision=_ratio(len(queued_pairs & true_pairs), len(queued_pairs)),
        queued_recall=_ratio(len(queued_pairs & true_pairs), len(true_pairs)),
        precision_by_method={m: (_ratio(sum(v), len(v)), len(v)) for m, v in sorted(by_method.items())},
        recall_by_kind={k: (_ratio(sum(v), len(v)), len(v)) for k, v in sorted(by_kind.items())},
        decisions_by_status=dict(sorted(statuses.items())),
    )


def evaluate(graph: Graph, config: EvalConfig, thresholds: Thresholds, *, keep: bool = False) -> EvalResult:
    """Build, write, resolve and score a labelled population; delete it afterwards unless `keep`."""
    pop = build_population(config)
    delete_population(graph)
    write_population(graph, pop)
    try:
        started = time.perf_counter()
        for label in (Label.ACCOUNT, Label.CONTACT):
            resolve(graph, label, thresholds, sources=EVAL_SOURCES, decided_by="kgcrm identity evaluate")
        seconds = time.perf_counter() - started
        scores = [
            score_label(graph, Label.ACCOUNT, pop, pop.accounts),
            score_label(graph, Label.CONTACT, pop, pop.contacts),
        ]
    finally:
        if not keep:
            delete_population(graph)
    return EvalResult(config=config, thresholds=thresholds, scores=scores, seconds_resolve=seconds)


def format_report(result: EvalResult) -> str:
    """The figures as Markdown, the form bench/RESULTS.md records them in."""
    c, t = result.config, result.thresholds
    lines = [
        f"seed {c.seed}, {c.accounts} companies x {c.contacts_per_account} contacts, duplicate rates "
        f"{c.account_duplicate_rate:.0%} (accounts) / {c.contact_duplicate_rate:.0%} (contacts), "
        f"thresholds auto {t.auto} / review {t.review}; resolve took {result.seconds_resolve:.1f} s",
    ]
    return "\n".join(lines + _score_tables(result.scores))


def _score_tables(scores: list[Scores]) -> list[str]:
    lines = [
        "",
        "| label | records | true pairs | merged precision | merged recall | merged+queued precision | merged+queued recall | decisions |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in scores:
        statuses = ", ".join(f"{k} {v}" for k, v in s.decisions_by_status.items())
        lines.append(
            f"| {s.label} | {s.records} | {s.true_pairs} | {s.merged_precision:.3f} | {s.merged_recall:.3f} | "
            f"{s.queued_precision:.3f} | {s.queued_recall:.3f} | {statuses} |"
        )
    lines += ["", "| label | method | precision | decisions |", "|---|---|---|---|"]
    for s in scores:
        for method, (value, n) in s.precision_by_method.items():
            lines.append(f"| {s.label} | {method} | {value:.3f} | {n} |")
    lines += ["", "| label | injected duplicate kind | recall (merged or queued) | duplicates |", "|---|---|---|---|"]
    for s in scores:
        for kind, (value, n) in s.recall_by_kind.items():
            lines.append(f"| {s.label} | {kind} | {value:.3f} | {n} |")
    return lines


WORLD_SOURCES = ("salesforce", "hubspot")


@dataclass
class WorldEvalResult:
    folder: str
    thresholds: Thresholds
    scores: list[Scores]
    seconds_resolve: float


def evaluate_world(graph: Graph, folder: Path, thresholds: Thresholds) -> WorldEvalResult:
    """Resolve a loaded `kgcrm generate --duplicates` world (both sources) and score it against its ground truth.

    Expects `kgcrm load OUTDIR --format salesforce` and `kgcrm load OUTDIR/hubspot --format hubspot` done.
    Every Salesforce record is its own entity; each HubSpot record is the entity it duplicates.
    """
    truth_path = folder / GROUND_TRUTH_DIR / DUPLICATES_FILE
    if not truth_path.is_file():
        raise InvalidInput(f"{truth_path}: missing; write the world with `kgcrm generate --duplicates RATE`")
    with truth_path.open(newline="", encoding="utf-8") as handle:
        truth = list(csv.DictReader(handle))
    started = time.perf_counter()
    for label in (Label.ACCOUNT, Label.CONTACT):
        resolve(graph, label, thresholds, sources=WORLD_SOURCES, decided_by="kgcrm identity evaluate")
    seconds = time.perf_counter() - started
    scores = []
    for label in (Label.ACCOUNT, Label.CONTACT):
        pop = Population()
        ids = [row["id"] for row in graph.read(q.ids_of_sources(label), {"sources": list(WORLD_SOURCES)})]
        pop.entity_of = {node_id: node_id for node_id in ids}
        for row in truth:
            if row["Label"] == label.value and row["DuplicateId"] in pop.entity_of:
                pop.entity_of[row["DuplicateId"]] = row["OriginalId"]
                pop.kind_of[row["DuplicateId"]] = row["Kind"]
        if len(pop.kind_of) < sum(1 for row in truth if row["Label"] == label.value):
            raise InvalidInput(f"{label.value}: some records of {truth_path} are not in the graph; load both sources first")
        scores.append(score_label(graph, label, pop, [{"id": node_id} for node_id in ids], WORLD_SOURCES))
    return WorldEvalResult(str(folder), thresholds, scores, seconds)


def format_world_report(result: WorldEvalResult) -> str:
    t = result.thresholds
    head = (f"world {result.folder}, sources {' + '.join(WORLD_SOURCES)}, thresholds auto {t.auto} / review {t.review}; "
            f"resolve took {result.seconds_resolve:.1f} s")
    return head + "\n" + "\n".join(_score_tables(result.scores))
