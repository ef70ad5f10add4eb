"""Candidate duplicate pairs from blocked comparisons: exact keys first, then fuzzy names with rapidfuzz.

Pure Python over records already read from the graph, so the rules can be tested and measured without
Neo4j. Blocking keeps the work near-linear: exact keys (e-mail, domain, normal name) group records in
one pass, and fuzzy names are only compared inside small blocks (a shared rare word, the first or last
three letters), never all pairs.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from kgcrm.loaders.identity_normalize import (
    canonical_mailbox,
    company_acronym,
    email_domain,
    normalise_company_name,
    normalise_domain,
    normalise_email,
    normalise_person_name,
)

logger = logging.getLogger(__name__)

# A block larger than this is too common a key to say anything (a word like "systems"); it is skipped.
MAX_BLOCK = 2000
# Pairs in a block are scored only from this rapidfuzz similarity (0..100) up; the confidence rule
# below then asks for 88 or for one or two typos, because one typo in a 7-letter name already scores 86.
BLOCK_CUTOFF = 80.0
RATIO_FLOOR = 88.0
# Names shorter than this must match exactly: one letter changes "abc" into another company.
MIN_FUZZY_LENGTH = 5
# One typo is strong evidence only in a name at least this long ("vanis" and "nanis" may be two firms).
MIN_TYPO_LENGTH = 6
# A word in at least this share of account names (and 5 names) is generic ("systems", "motors").
GENERIC_SHARE = 0.002
# Two accounts only proposed as one company (a pending decision) make a name match there less sure.
LINKED_ACCOUNT_PENALTY = 0.07


class Method:
    """How a pair was matched; each method has its own confidence rule below."""

    EMAIL = "email"
    EMAIL_MAILBOX = "email_mailbox"
    NAME_DOMAIN = "name_domain"
    NAME_FUZZY_DOMAIN = "name_fuzzy_domain"
    NAME_LINKED_ACCOUNT = "name_linked_account"
    NAME_FUZZY_LINKED_ACCOUNT = "name_fuzzy_linked_account"
    DOMAIN = "domain"
    NAME_EXACT = "name_exact"
    NAME_FUZZY = "name_fuzzy"
    ACRONYM = "acronym"


@dataclass(frozen=True)
class AccountRecord:
    id: str
    name: str | None = None
    domain: str | None = None
    website: str | None = None


@dataclass(frozen=True)
class ContactRecord:
    id: str
    name: str | None = None
    email: str | None = None
    # Domains (or websites) of the accounts the contact currently works at.
    account_domains: tuple[str, ...] = field(default_factory=tuple)
    # Ids of those accounts: the same company even when it has no domain on record.
    account_ids: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Candidate:
    """One proposed pair, ids in sorted order so a pair has one spelling."""

    a: str
    b: str
    method: str
    confidence: float


def _pair(a: str, b: str, method: str, confidence: float) -> Candidate:
    low, high = (a, b) if a < b else (b, a)
    return Candidate(low, high, method, round(min(max(confidence, 0.0), 1.0), 4))


def _keep_best(candidates: Iterable[Candidate]) -> list[Candidate]:
    """One candidate per pair: the most confident method wins."""
    best: dict[tuple[str, str], Candidate] = {}
    for cand in candidates:
        key = (cand.a, cand.b)
        if key not in best or cand.confidence > best[key].confidence:
            best[key] = cand
    return sorted(best.values(), key=lambda c: (c.a, c.b))


def _star_pairs(groups: dict[str, list[str]]) -> Iterable[tuple[str, str]]:
    """Link every member of an exact-key group to its first one: enough to form the cluster, linear."""
    for ids in groups.values():
        if len(ids) > 1:
            first, *rest = sorted(ids)
            for other in rest:
                yield first, other


def _similarity(left: str, right: str) -> float:
    """The better of plain and word-order-free similarity ("Smith John" is "John Smith")."""
    return max(fuzz.ratio(left, right), fuzz.token_sort_ratio(left, right))


def _fuzzy_pairs(names: Sequence[str], blocks: dict[str, list[int]]) -> dict[tuple[int, int], float]:
    """Similarity of name pairs that share a block and reach BLOCK_CUTOFF, each pair scored once."""
    scores: dict[tuple[int, int], float] = {}
    skipped = 0
    for members in blocks.values():
        if len(members) < 2:
            continue
        if len(members) > MAX_BLOCK:
            skipped += 1
            continue
        block_names = [names[i] for i in members]
        matrix = np.maximum(
            process.cdist(block_names, block_names, scorer=fuzz.ratio, score_cutoff=BLOCK_CUTOFF, dtype=np.uint8),
            process.cdist(block_names, block_names, scorer=fuzz.token_sort_ratio, score_cutoff=BLOCK_CUTOFF, dtype=np.uint8),
        )
        rows, cols = np.nonzero(np.triu(matrix, k=1))
        for r, c in zip(rows.tolist(), cols.tolist()):
            i, j = members[r], members[c]
            key = (i, j) if i < j else (j, i)
            if key not in scores:
                # uint8 rounds; score the pair exactly once it is known to be close.
                scores[key] = _similarity(names[i], names[j])
    if skipped:
        logger.info("skipped %s name blocks larger than %s records", skipped, MAX_BLOCK)
    return scores


def fuzzy_confidence(left: str, right: str, score: float) -> float:
    """Confidence of two different names: from their similarity, or from counting typos.

    One typo (a letter changed, dropped, added or two swapped) is 0.88 in a name of six or more
    letters and 0.80 (the bottom of the review queue) in one of five; two typos in a name of twelve or
    more 0.84; otherwise similarity 88..100 maps to 0.78..0.92.
    Zero means "not a candidate".
    """
    compact_left, compact_right = left.replace(" ", ""), right.replace(" ", "")
    length = min(len(compact_left), len(compact_right))
    if length < MIN_FUZZY_LENGTH:
        return 0.0
    by_score = 0.78 + 0.14 * (score - RATIO_FLOOR) / (100 - RATIO_FLOOR) if score >= RATIO_FLOOR else 0.0
    edits = OSA.distance(compact_left, compact_right)
    if edits == 1:
        by_edits = 0.88 if length >= MIN_TYPO_LENGTH else 0.8
    else:
        by_edits = 0.84 if edits == 2 and length >= 12 else 0.0
    return max(by_score, by_edits)


def _generic_words(names: Sequence[str]) -> frozenset[str]:
    """Words so common among the names that sharing them says little (like IDF, but a cut-off)."""
    counts: dict[str, int] = defaultdict(int)
    for name in names:
        for word in set(name.split()):
            counts[word] += 1
    floor = max(5, GENERIC_SHARE * len(names))
    return frozenset(word for word, count in counts.items() if count >= floor)


def _company_name_confidence(left: str, right: str, score: float, generic: frozenset[str]) -> float:
    """Compare the distinctive words when the generic ones agree: "Vanis Motors" vs "Nanis Motors"
    is "vanis" vs "nanis", which a shared "motors" must not make look alike."""
    left_words, right_words = left.split(), right.split()
    left_generic = [w for w in left_words if w in generic]
    right_generic = [w for w in right_words if w in generic]
    left_core = " ".join(w for w in left_words if w not in generic)
    right_core = " ".join(w for w in right_words if w not in generic)
    if left_generic == right_generic and left_core and right_core:
        return fuzzy_confidence(left_core, right_core, _similarity(left_core, right_core))
    return fuzzy_confidence(left, right, score)


def _name_blocks(names: Sequence[str]) -> dict[str, list[int]]:
    """Blocking keys of a name: each word of 3+ letters, the first three, the last three, and the
    first two with the last two letters; one typo leaves at least one of them intact."""
    blocks: dict[str, list[int]] = defaultdict(list)
    for index, name in enumerate(names):
        compact = name.replace(" ", "")
        if len(compact) < MIN_FUZZY_LENGTH:
            continue
        keys = {f"w:{w}" for w in name.split() if len(w) >= 3}
        keys.update((f"p:{compact[:3]}", f"s:{compact[-3:]}", f"e:{compact[:2]}{compact[-2:]}"))
        for key in keys:
            blocks[key].append(index)
    return blocks


def _domain_conflict(left: str | None, right: str | None) -> bool:
    return bool(left and right and left != right)


def match_accounts(records: Sequence[AccountRecord]) -> list[Candidate]:
    """Account pairs: same normalised domain, then the same or a close company name, then acronyms."""
    domains = [normalise_domain(r.domain) or normalise_domain(r.website) for r in records]
    names = [normalise_company_name(r.name) for r in records]
    found: list[Candidate] = []

    by_domain: dict[str, list[str]] = defaultdict(list)
    index_of = {r.id: i for i, r in enumerate(records)}
    for record, domain in zip(records, domains):
        if domain:
            by_domain[domain].append(record.id)
    for a, b in _star_pairs(by_domain):
        # A shared domain with unrelated names is more often a parent and a subsidiary: ask a person.
        similar = fuzz.token_sort_ratio(names[index_of[a]], names[index_of[b]]) >= 60
        found.append(_pair(a, b, Method.DOMAIN, 0.98 if similar else 0.85))

    # A name carried by companies of two or more domains is ambiguous: "Cedarpoint Inc" without a
    # domain may be either of them, so an exact name match with it is no longer sure.
    domains_of_name: dict[str, set[str]] = defaultdict(set)
    for name, domain in zip(names, domains):
        if name and domain:
            domains_of_name[name].add(domain)

    def name_penalty(i: int, j: int) -> float:
        conflict = _domain_conflict(domains[i], domains[j]) or len(domains_of_name.get(names[i], ())) > 1
        return 0.1 if conflict else 0.0

    generic = _generic_words(names)
    for (i, j), score in _fuzzy_pairs(names, _name_blocks(names)).items():
        penalty = name_penalty(i, j) if names[i] == names[j] else (0.1 if _domain_conflict(domains[i], domains[j]) else 0.0)
        if names[i] == names[j]:
            found.append(_pair(records[i].id, records[j].id, Method.NAME_EXACT, 0.96 - penalty))
        elif confidence := _company_name_confidence(names[i], names[j], score, generic):
            found.append(_pair(records[i].id, records[j].id, Method.NAME_FUZZY, confidence - penalty))

    # Short names that fuzzy matching skips still match when they are exactly equal.
    by_name: dict[str, list[str]] = defaultdict(list)
    for record, name in zip(records, names):
        if name and len(name.replace(" ", "")) < MIN_FUZZY_LENGTH:
            by_name[name].append(record.id)
    for a, b in _star_pairs(by_name):
        found.append(_pair(a, b, Method.NAME_EXACT, 0.96 - name_penalty(index_of[a], index_of[b])))

    found.extend(_acronym_pairs(records, names, domains))
    return _keep_best(found)


def _acronym_pairs(records: Sequence[AccountRecord], names: Sequence[str], domains: Sequence[str | None]) -> list[Candidate]:
    """"International Business Machines" and "IBM Corp": a one-word name equal to another's initials."""
    long_by_acronym: dict[str, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        acronym = company_acronym(record.name)
        if acronym:
            long_by_acronym[acronym].append(index)
    found = []
    for index, name in enumerate(names):
        if " " in name or not 2 <= len(name) <= 6:
            continue
        expansions = long_by_acronym.get(name, [])
        # An acronym that fits several companies says too little to ask a person about.
        base = 0.85 if len(expansions) == 1 else 0.7
        for other in expansions:
            penalty = 0.1 if _domain_conflict(domains[index], domains[other]) else 0.0
            found.append(_pair(records[index].id, records[other].id, Method.ACRONYM, base - penalty))
    return found


def match_contacts(records: Sequence[ContactRecord], account_groups: Mapping[str, str] | None = None) -> list[Candidate]:
    """Contact pairs: same e-mail or mailbox, then the same or a close name at the same company domain.

    `account_groups` maps account ids to a group of accounts that a pending decision proposes as one
    company; a name match across such accounts is proposed too, a little less sure.
    """
    emails = [normalise_email(r.email) for r in records]
    mailboxes = [canonical_mailbox(r.email) for r in records]
    names = [normalise_person_name(r.name) for r in records]
    found: list[Candidate] = []

    by_email: dict[str, list[str]] = defaultdict(list)
    by_mailbox: dict[str, list[str]] = defaultdict(list)
    for record, email, mailbox in zip(records, emails, mailboxes):
        if email:
            by_email[email].append(record.id)
        if mailbox:
            by_mailbox[mailbox].append(record.id)
    for a, b in _star_pairs(by_email):
        found.append(_pair(a, b, Method.EMAIL, 0.99))
    for a, b in _star_pairs(by_mailbox):
        found.append(_pair(a, b, Method.EMAIL_MAILBOX, 0.96))

    # Company keys: the current accounts' domains and ids, and the e-mail's domain unless free mail.
    by_name_domain: dict[str, list[str]] = defaultdict(list)
    fuzzy_blocks: dict[str, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        if not names[index]:
            continue
        domains = {normalise_domain(d) for d in record.account_domains} | {email_domain(record.email)}
        domains |= {f"account:{account_id}" for account_id in record.account_ids}
        for domain in domains - {None}:
            by_name_domain[f"{domain}|{names[index]}"].append(record.id)
            for key in _name_blocks([names[index]]):
                fuzzy_blocks[f"{domain}|{key}"].append(index)

    index_of = {r.id: i for i, r in enumerate(records)}

    def emails_differ(i: int, j: int) -> bool:
        return bool(mailboxes[i] and mailboxes[j] and mailboxes[i] != mailboxes[j])

    for a, b in _star_pairs(by_name_domain):
        penalty = 0.03 if emails_differ(index_of[a], index_of[b]) else 0.0
        found.append(_pair(a, b, Method.NAME_DOMAIN, 0.92 - penalty))
    for (i, j), score in _fuzzy_pairs(names, fuzzy_blocks).items():
        if names[i] == names[j]:
            continue
        if confidence := fuzzy_confidence(names[i], names[j], score):
            penalty = 0.03 if emails_differ(i, j) else 0.0
            found.append(_pair(records[i].id, records[j].id, Method.NAME_FUZZY_DOMAIN, confidence - penalty))
    if account_groups:
        found.extend(_linked_account_pairs(records, names, account_groups, emails_differ))
    return _keep_best(found)


def _linked_account_pairs(records: Sequence[ContactRecord], names: Sequence[str], account_groups: Mapping[str, str],
                          emails_differ: Callable[[int, int], bool]) -> list[Candidate]:
    """The same or a close name at two accounts that may be one company (their decision is pending)."""
    exact: dict[str, list[int]] = defaultdict(list)
    blocks: dict[str, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        groups = {account_groups[a] for a in record.account_ids if a in account_groups}
        if not names[index]:
            continue
        for group in groups:
            exact[f"{group}|{names[index]}"].append(index)
            for key in _name_blocks([names[index]]):
                blocks[f"{group}|{key}"].append(index)
    found = []
    for members in exact.values():
        first, *rest = sorted(members, key=lambda i: records[i].id)
        for other in rest:
            penalty = LINKED_ACCOUNT_PENALTY + (0.03 if emails_differ(first, other) else 0.0)
            found.append(_pair(records[first].id, records[other].id, Method.NAME_LINKED_ACCOUNT, 0.92 - penalty))
    for (i, j), score in _fuzzy_pairs(names, blocks).items():
        if names[i] != names[j] and (confidence := fuzzy_confidence(names[i], names[j], score)):
            penalty = LINKED_ACCOUNT_PENALTY + (0.03 if emails_differ(i, j) else 0.0)
            found.append(_pair(records[i].id, records[j].id, Method.NAME_FUZZY_LINKED_ACCOUNT, confidence - penalty))
    return found
