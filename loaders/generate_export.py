"""Writes the simulated world as a Salesforce data export: the twelve CSV files of docs/salesforce-export.md."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kgcrm.loaders import generate_vocab as vocab
from kgcrm.loaders.generate_activities import (
    ABOUT_ACCOUNT,
    ABOUT_CAMPAIGN,
    ABOUT_OPPORTUNITY,
    ACTIVITY_TYPES,
    FOREVER,
    MEETING,
    Activities,
    CampaignMembers,
    LineItems,
    Stints,
)
from kgcrm.loaders.generate_csv import booleans, dates, datetimes, ids, money, optional_dates, refs, write_csv
from kgcrm.loaders.generate_entities import StaticWorld
from kgcrm.loaders.generate_params import WorldParams
from kgcrm.loaders.generate_simulate import TYPE_RENEWAL, Outcome

# Object API name → Salesforce key prefix (docs/salesforce-export.md).
PREFIXES: dict[str, str] = {
    "Account": "001", "Contact": "003", "User": "005", "Opportunity": "006", "Campaign": "701", "Task": "00T",
    "Event": "00U", "Product2": "01t", "OpportunityContactRole": "00K", "CampaignMember": "00v",
    "AccountContactRelation": "07k", "OpportunityLineItem": "00k",
}
EXPORT_FILES: tuple[str, ...] = tuple(f"{name}.csv" for name in PREFIXES)
_USER_TITLES = {"rep": "Account Executive", "manager": "Sales Manager", "admin": "CRM Administrator"}


@dataclass
class ExportIds:
    """The id column of every object, indexed like the simulation's arrays."""

    user: np.ndarray
    account: np.ndarray
    contact: np.ndarray
    opportunity: np.ndarray
    campaign: np.ndarray
    product: np.ndarray


class ExportWriter:
    """Writes one file per object into `folder`; each method returns the number of rows written."""

    def __init__(self, params: WorldParams, world: StaticWorld, outcome: Outcome, folder: Path, quiet: bool) -> None:
        self.params, self.world, self.outcome, self.folder, self.quiet = params, world, outcome, folder, quiet
        self.start = params.start
        self.ids = ExportIds(
            user=ids(PREFIXES["User"], world.users.count),
            account=ids(PREFIXES["Account"], world.accounts.count),
            contact=ids(PREFIXES["Contact"], world.contacts.count),
            opportunity=ids(PREFIXES["Opportunity"], len(outcome.opp_account)),
            campaign=ids(PREFIXES["Campaign"], world.campaigns.count),
            product=ids(PREFIXES["Product2"], len(vocab.PRODUCTS)),
        )
        self.rng = np.random.default_rng(params.seed + 7919)  # only for cosmetic times of day

    def _write(self, name: str, columns: dict, free_text: tuple[str, ...] = ()) -> int:
        return write_csv(self.folder / f"{name}.csv", columns, quiet=self.quiet, free_text=free_text)

    def _office_seconds(self, count: int) -> np.ndarray:
        return self.rng.integers(8 * 3600, 18 * 3600, size=count)

    def users(self) -> int:
        users = self.world.users
        first = np.array(vocab.FIRST_NAMES)[users.first]
        last = np.array(vocab.LAST_NAMES)[users.last]
        titles = [_USER_TITLES[role] for role in users.role.tolist()]
        titles[0] = "Head of Sales"
        return self._write("User", {
            "Id": self.ids.user,
            "Name": [f"{f} {l}" for f, l in zip(first.tolist(), last.tolist())],
            "Email": [f"{f}.{l}.{i}@seller.example".lower() for i, (f, l) in enumerate(zip(first.tolist(), last.tolist()))],
            "Title": titles,
            "UserRole": users.role,
            "ManagerId": refs(self.ids.user, users.manager),
            "Department": np.array(vocab.REGIONS)[users.region],
            "IsActive": np.full(users.count, "true"),
            "CreatedDate": datetimes(self.start, users.created_day, self._office_seconds(users.count)),
        })

    def accounts(self) -> int:
        accounts = self.world.accounts
        return self._write("Account", {
            "Id": self.ids.account,
            "Name": accounts.name,
            "Website": accounts.website,
            "Industry": np.array([row[0] for row in vocab.INDUSTRIES])[accounts.industry],
            "Type": np.where(accounts.is_customer, "Customer - Direct", "Prospect"),
            "BillingCountry": np.array([row[0] for row in vocab.COUNTRIES])[accounts.country],
            "NumberOfEmployees": accounts.employees,
            "AnnualRevenue": money(accounts.revenue),
            "ParentId": refs(self.ids.account, accounts.parent),
            "OwnerId": self.ids.user[accounts.owner],
            "CreatedDate": datetimes(self.start, self.outcome.account_created_day, self._office_seconds(accounts.count)),
        }, free_text=("Name",))

    def contacts(self, stints: Stints) -> int:
        contacts, accounts = self.world.contacts, self.world.accounts
        current = stints.current_account(contacts.count)
        first = np.array(vocab.FIRST_NAMES)[contacts.first].tolist()
        last = np.array(vocab.LAST_NAMES)[contacts.last].tolist()
        domains = [site[4:] for site in accounts.website[current].tolist()]
        emails = _unique_emails([f"{f}.{l}@{d}".lower() for f, l, d in zip(first, last, domains)])
        return self._write("Contact", {
            "Id": self.ids.contact,
            "AccountId": self.ids.account[current],
            "FirstName": first,
            "LastName": last,
            "Email": emails,
            "Title": np.array([row[0] for row in vocab.TITLES])[contacts.title],
            "OwnerId": self.ids.user[accounts.owner[current]],
            "CreatedDate": datetimes(self.start, self.outcome.contact_created_day, self._office_seconds(contacts.count)),
        })

    def account_contact_relations(self, stints: Stints) -> int:
        live = stints.end == FOREVER
        return self._write("AccountContactRelation", {
            "Id": ids(PREFIXES["AccountContactRelation"], len(stints.contact)),
            "AccountId": self.ids.account[stints.account],
            "ContactId": self.ids.contact[stints.contact],
            "Roles": np.full(len(live), ""),
            "IsDirect": booleans(live),
            "IsActive": booleans(live),
            "StartDate": dates(self.start, stints.start),
            "EndDate": optional_dates(self.start, stints.end, ~live),
        })

    def opportunities(self, items: LineItems) -> int:
        out, accounts = self.outcome, self.world.accounts
        account = np.array(out.opp_account, dtype=np.int64)
        created = np.array(out.opp_created, dtype=np.int64)
        close = np.array(out.opp_close, dtype=np.int64)
        won = np.array(out.opp_won, dtype=bool)
        kind = np.array(out.opp_type)
        closed = close < self.params.days
        progress = (self.params.days - created) / np.maximum(close - created, 1)
        open_stage = np.array(vocab.OPEN_STAGES)[np.clip((progress * len(vocab.OPEN_STAGES)).astype(int), 0, len(vocab.OPEN_STAGES) - 1)]
        stage = np.where(closed, np.where(won, "Closed Won", "Closed Lost"), open_stage)
        amount = np.bincount(items.opp, weights=items.quantity * items.unit_price, minlength=len(account))
        month = np.searchsorted(self.world.month_start_days, created, side="right") - 1
        attributed = (created >= 0) & (kind != TYPE_RENEWAL) & (self.rng.random(len(account)) < 0.25)
        campaign = np.where(attributed, self.world.campaigns.webinar_of_month[np.clip(month, 0, None)], -1)
        names = [f"{name} - {k}" for name, k in zip(accounts.name[account].tolist(), kind.tolist())]
        return self._write("Opportunity", {
            "Id": self.ids.opportunity,
            "AccountId": self.ids.account[account],
            "Name": names,
            "StageName": stage,
            "Amount": money(amount),
            "CloseDate": dates(self.start, close),
            "IsClosed": booleans(closed),
            "IsWon": booleans(closed & won),
            "OwnerId": self.ids.user[accounts.owner[account]],
            "CampaignId": refs(self.ids.campaign, campaign),
            "Type": kind,
            "CreatedDate": datetimes(self.start, created, self._office_seconds(len(account))),
        }, free_text=("Name",))

    def contact_roles(self) -> int:
        out = self.outcome
        return self._write("OpportunityContactRole", {
            "Id": ids(PREFIXES["OpportunityContactRole"], len(out.role_opp)),
            "OpportunityId": self.ids.opportunity[np.array(out.role_opp, dtype=np.int64)],
            "ContactId": self.ids.contact[np.array(out.role_contact, dtype=np.int64)],
            "Role": out.role_name,
            "IsPrimary": booleans(np.array(out.role_primary, dtype=bool)),
        })

    def products(self) -> int:
        return self._write("Product2", {
            "Id": self.ids.product,
            "Name": [name for name, _, _ in vocab.PRODUCTS],
            "Family": [family for _, family, _ in vocab.PRODUCTS],
            "ProductCode": [f"KG-{i:03d}" for i in range(1, len(vocab.PRODUCTS) + 1)],
            "IsActive": np.full(len(vocab.PRODUCTS), "true"),
        })

    def line_items(self, items: LineItems) -> int:
        return self._write("OpportunityLineItem", {
            "Id": ids(PREFIXES["OpportunityLineItem"], len(items.opp)),
            "OpportunityId": self.ids.opportunity[items.opp],
            "Product2Id": self.ids.product[items.product],
            "Quantity": items.quantity,
            "UnitPrice": money(items.unit_price),
        })

    def campaigns(self) -> int:
        campaigns = self.world.campaigns
        kind = np.array([name for name, _ in vocab.CAMPAIGN_TYPES])[campaigns.type]
        topic = np.array(vocab.CAMPAIGN_TOPICS)[campaigns.topic]
        month = dates(self.start, campaigns.start_day)
        status = np.where(campaigns.end_day < self.params.days, "Completed",
                          np.where(campaigns.start_day < self.params.days, "In Progress", "Planned"))
        return self._write("Campaign", {
            "Id": self.ids.campaign,
            "Name": [f"{t} {k} {m[:7]}" for t, k, m in zip(topic.tolist(), kind.tolist(), month.tolist())],
            "Type": kind,
            "Status": status,
            "StartDate": month,
            "EndDate": dates(self.start, campaigns.end_day),
            "OwnerId": self.ids.user[campaigns.owner],
        })

    def campaign_members(self, members: CampaignMembers) -> int:
        return self._write("CampaignMember", {
            "Id": ids(PREFIXES["CampaignMember"], len(members.campaign)),
            "CampaignId": self.ids.campaign[members.campaign],
            "ContactId": self.ids.contact[members.contact],
            "Status": members.status,
            "HasResponded": booleans(members.responded),
            "FirstRespondedDate": optional_dates(self.start, members.responded_day, members.responded_day >= 0),
            "CreatedDate": datetimes(self.start, members.created_day, self._office_seconds(len(members.campaign))),
        })

    def _what_ids(self, activities: Activities, rows: np.ndarray) -> np.ndarray:
        kind, about = activities.about_kind[rows], activities.about[rows]
        account = refs(self.ids.account, np.where(kind == ABOUT_ACCOUNT, about, -1))
        opportunity = refs(self.ids.opportunity, np.where(kind == ABOUT_OPPORTUNITY, about, -1))
        campaign = refs(self.ids.campaign, np.where(kind == ABOUT_CAMPAIGN, about, -1))
        return np.where(kind == ABOUT_ACCOUNT, account, np.where(kind == ABOUT_OPPORTUNITY, opportunity, campaign))

    def tasks_and_events(self, activities: Activities) -> tuple[int, int]:
        owner = self.ids.user[self.world.accounts.owner[activities.account]]
        type_names = np.array(ACTIVITY_TYPES)
        subjects = np.array([vocab.TASK_SUBJECTS[name] for name in ACTIVITY_TYPES])
        subtypes = np.array([vocab.TASK_SUBTYPES.get(name, "Task") for name in ACTIVITY_TYPES])
        task = np.flatnonzero(activities.type != MEETING)
        types = activities.type[task]
        n_tasks = self._write("Task", {
            "Id": ids(PREFIXES["Task"], len(task)),
            "WhoId": self.ids.contact[activities.contact[task]],
            "WhatId": self._what_ids(activities, task),
            "OwnerId": owner[task],
            "Subject": subjects[types],
            "Type": type_names[types],
            "TaskSubtype": subtypes[types],
            "Status": np.full(len(task), "Completed"),
            "ActivityDate": dates(self.start, activities.day[task]),
            "CreatedDate": datetimes(self.start, activities.day[task], activities.second[task]),
        })
        event = np.flatnonzero(activities.type == MEETING)
        day, second = activities.day[event], activities.second[event]
        booked = np.maximum(second - 1800 * self.rng.integers(1, 7, size=len(event)), 0)
        n_events = self._write("Event", {
            "Id": ids(PREFIXES["Event"], len(event)),
            "WhoId": self.ids.contact[activities.contact[event]],
            "WhatId": self._what_ids(activities, event),
            "OwnerId": owner[event],
            "Subject": np.full(len(event), "Meeting"),
            "Type": np.full(len(event), "Meeting"),
            "StartDateTime": datetimes(self.start, day, second),
            "DurationInMinutes": self.rng.choice([30, 45, 60, 90], size=len(event), p=[0.4, 0.2, 0.3, 0.1]),
            "CreatedDate": datetimes(self.start, day, booked),
        })
        return n_tasks, n_events


def _unique_emails(emails: list[str]) -> list[str]:
    """first.last@domain, with a number before the @ for a repeated name at the same company."""
    seen: dict[str, int] = {}
    unique = []
    for email in emails:
        times = seen.get(email, 0) + 1
        seen[email] = times
        if times > 1:
            local, domain = email.split("@", 1)
            email = f"{local}{times}@{domain}"
        unique.append(email)
    return unique
