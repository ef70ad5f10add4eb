"""A second source for a generated world: a HubSpot export re-describing some of its companies and people.

Identity resolution is measured on it: each HubSpot record is a duplicate of a Salesforce record with one
injected difference (case, legal form, a typo, a website for a domain, a name variant), and which record it
duplicates is written to the ground truth (`duplicates.csv`), never to the exports.
"""

from __future__ import annotations

import csv
import random
import string
from pathlib import Path

SECOND_SOURCE_DIR = "hubspot"
DUPLICATES_FILE = "duplicates.csv"
ACCOUNT_KINDS = ("same_domain", "case_and_suffix", "name_typo")
CONTACT_KINDS = ("email_case", "same_name_same_company", "name_typo_same_company")
_COMPANY_COLUMNS = ["Record ID", "Company name", "Company Domain Name", "Industry", "Number of Employees",
                    "Annual Revenue", "Country/Region", "Company owner", "Create Date", "Parent Company", "Lifecycle Stage"]
_CONTACT_COLUMNS = ["Record ID", "First Name", "Last Name", "Email", "Job Title", "Contact owner", "Create Date",
                    "Lifecycle Stage", "Associated Company IDs"]
_DEAL_COLUMNS = ["Record ID", "Deal Name", "Deal Stage", "Amount", "Close Date", "Deal owner", "Pipeline", "Create Date",
                 "Deal Type", "Associated Company IDs", "Associated Contact IDs"]
_LEGAL = ("LLC", "Inc.", "Ltd", "GmbH", "Corporation")
# Last words of generated names that are legal forms (the rest, like "Systems", are part of the name).
_LEGAL_WORDS = frozenset({"inc", "corp", "group", "holdings", "gmbh", "ltd"})


def _typo(rng: random.Random, word: str) -> str:
    """One slip inside a word: a letter changed, dropped, doubled or two letters swapped."""
    if len(word) < 4:
        return word + rng.choice(string.ascii_lowercase)
    i = rng.randrange(1, len(word) - 1)
    op = rng.randrange(4)
    if op == 0:
        return word[:i] + rng.choice([c for c in string.ascii_lowercase if c != word[i].lower()]) + word[i + 1:]
    if op == 1:
        return word[:i] + word[i + 1:]
    if op == 2:
        return word[:i] + word[i] + word[i:]
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1:]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _hubspot_time(salesforce_datetime: str) -> str:
    """HubSpot exports "YYYY-MM-DD HH:MM"."""
    return salesforce_datetime[:16].replace("T", " ")


def write_second_source(outdir: Path, truth_dir: Path, rate: float, seed: int) -> dict[str, int]:
    """Write OUTDIR/hubspot/{companies,contacts,deals}.csv re-describing `rate` of the accounts and some of their people."""
    rng = random.Random(seed * 7919 + 17)
    accounts = _read(outdir / "Account.csv")
    contacts = _read(outdir / "Contact.csv")
    folder = outdir / SECOND_SOURCE_DIR
    folder.mkdir(exist_ok=True)
    truth: list[dict[str, str]] = []
    companies: list[dict[str, str]] = []
    copy_of: dict[str, str] = {}
    for account in accounts:
        if rng.random() >= rate:
            continue
        record_id = str(5_000_001 + len(companies))
        kind = rng.choice(ACCOUNT_KINDS)
        name, domain = account["Name"], ""
        if kind == "same_domain":
            name, domain = name.upper(), f"https://{account['Website']}/"
        elif kind == "case_and_suffix":
            head, _, last = name.rpartition(" ")
            core = head if head and last.lower() in _LEGAL_WORDS else name
            name = f"{(core.upper() if rng.random() < 0.5 else core.lower())} {rng.choice(_LEGAL)}"
        else:
            first, _, rest = name.partition(" ")
            name = f"{_typo(rng, first)} {rest}".strip()
        companies.append({
            "Record ID": record_id, "Company name": name, "Company Domain Name": domain, "Industry": account["Industry"],
            "Number of Employees": account["NumberOfEmployees"], "Annual Revenue": account["AnnualRevenue"],
            "Country/Region": account["BillingCountry"], "Company owner": "", "Create Date": _hubspot_time(account["CreatedDate"]),
            "Parent Company": "", "Lifecycle Stage": "customer" if account["Type"].startswith("Customer") else "lead",
        })
        copy_of[account["Id"]] = record_id
        truth.append({"Label": "Account", "DuplicateId": f"{SECOND_SOURCE_DIR}:{record_id}",
                      "OriginalId": f"salesforce:{account['Id']}", "Kind": kind})
    people: list[dict[str, str]] = []
    for contact in contacts:
        company = copy_of.get(contact["AccountId"], "")
        # People of re-described companies are re-described more often, as when a CRM syncs both.
        if rng.random() >= (min(1.0, 2 * rate) if company else rate / 4):
            continue
        record_id = str(7_000_001 + len(people))
        # Name variants need the company: without it (and without an e-mail) nobody could tell.
        kind = rng.choice(CONTACT_KINDS) if company else "email_case"
        first, last, email = contact["FirstName"], contact["LastName"], contact["Email"]
        if kind == "email_case":
            first, last, email = first.upper(), last.upper(), f" {email.upper()} "
        elif kind == "same_name_same_company":
            first, email = first.upper(), ""
        else:
            last, email = _typo(rng, last), ""
        people.append({
            "Record ID": record_id, "First Name": first, "Last Name": last, "Email": email, "Job Title": contact["Title"],
            "Contact owner": "", "Create Date": _hubspot_time(contact["CreatedDate"]), "Lifecycle Stage": "lead",
            "Associated Company IDs": company,
        })
        truth.append({"Label": "Contact", "DuplicateId": f"{SECOND_SOURCE_DIR}:{record_id}",
                      "OriginalId": f"salesforce:{contact['Id']}", "Kind": kind})
    _write(folder / "companies.csv", _COMPANY_COLUMNS, companies)
    _write(folder / "contacts.csv", _CONTACT_COLUMNS, people)
    _write(folder / "deals.csv", _DEAL_COLUMNS, [])
    _write(truth_dir / DUPLICATES_FILE, ["Label", "DuplicateId", "OriginalId", "Kind"], truth)
    return {"companies.csv": len(companies), "contacts.csv": len(people)}
