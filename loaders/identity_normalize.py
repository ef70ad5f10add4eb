"""Normal forms of e-mails, domains and names: the keys identity resolution compares."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

# Providers where dots in the local part are ignored and "+tag" is an alias of the same mailbox.
_DOTLESS_PROVIDERS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
# Providers that deliver "user+tag@" to "user@" (sub-addressing) but treat dots as significant.
_PLUS_TAG_PROVIDERS = frozenset(
    {"outlook.com", "hotmail.com", "live.com", "icloud.com", "me.com", "fastmail.com", "proton.me", "protonmail.com"}
)
# Mailbox providers: their domain says nothing about the employer, so it never keys a company.
FREE_MAIL_DOMAINS = frozenset(
    {"gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com", "aol.com",
     "icloud.com", "me.com", "gmx.de", "gmx.net", "web.de", "mail.com", "proton.me", "protonmail.com",
     "fastmail.com", "yandex.ru", "qq.com", "163.com"}
)

# Legal-form words dropped from company names ("Acme, Inc." and "ACME Corporation" are both "acme").
LEGAL_SUFFIXES = frozenset(
    {"inc", "incorporated", "llc", "ltd", "limited", "gmbh", "corp", "corporation", "co", "company", "plc",
     "ag", "sa", "sas", "sarl", "srl", "spa", "bv", "nv", "oy", "ab", "as", "pty", "llp", "lp", "kg", "se",
     "lc", "pllc", "holdings", "group"}
)
_HOST_RE = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def ascii_fold(text: str) -> str:
    """Lower case without accents ("Müller" -> "muller"), so spelling variants across sources agree."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def normalise_email(email: str | None) -> str | None:
    """Trimmed, lower-case address; None when it is not an address."""
    if not email:
        return None
    email = email.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain:
        return None
    return f"{local}@{domain}"


def canonical_mailbox(email: str | None) -> str | None:
    """The mailbox an address delivers to: gmail ignores dots and +tags, some providers only +tags.

    Only providers known to behave so are folded: for a company domain "j.smith" and "jsmith" may
    well be two people.
    """
    email = normalise_email(email)
    if email is None:
        return None
    local, _, domain = email.rpartition("@")
    if domain in _DOTLESS_PROVIDERS:
        local = local.split("+", 1)[0].replace(".", "")
        domain = _DOTLESS_PROVIDERS[domain]
    elif domain in _PLUS_TAG_PROVIDERS:
        local = local.split("+", 1)[0]
    return f"{local}@{domain}" if local else None


def email_domain(email: str | None) -> str | None:
    """The domain of an address, or None when it is a free-mail provider (it names no employer)."""
    email = normalise_email(email)
    if email is None:
        return None
    domain = email.rpartition("@")[2]
    return None if domain in FREE_MAIL_DOMAINS else domain


def normalise_domain(value: str | None) -> str | None:
    """A bare host name from a domain or website ("HTTPS://www.Acme.com/about" -> "acme.com")."""
    if not value:
        return None
    value = value.strip().lower()
    if not value:
        return None
    if "://" not in value:
        value = "//" + value
    try:
        host = urlsplit(value).hostname or ""
    except ValueError:
        return None
    host = host.rstrip(".")
    if host.startswith("www.") or re.match(r"^www\d\.", host):
        host = host.split(".", 1)[1]
    if not _HOST_RE.match(host) or host in FREE_MAIL_DOMAINS:
        return None
    return host


def company_tokens(name: str | None) -> list[str]:
    """Words of a company name without punctuation, legal forms or a leading "the"."""
    if not name:
        return []
    folded = ascii_fold(name).replace("&", " and ")
    tokens = [t for t in _NON_WORD.split(folded) if t]
    kept = [t for t in tokens if t not in LEGAL_SUFFIXES]
    if kept and kept[0] == "the" and len(kept) > 1:
        kept = kept[1:]
    # A name made only of legal words ("The Company") keeps them rather than vanishing.
    return kept or tokens


def normalise_company_name(name: str | None) -> str:
    """The comparable form of a company name: "ACME, Inc." and "Acme Corporation" give "acme"."""
    return " ".join(company_tokens(name))


def company_acronym(name: str | None) -> str | None:
    """Initials of a name of three or more words ("International Business Machines" -> "ibm")."""
    tokens = [t for t in company_tokens(name) if t not in ("and", "of", "for")]
    if len(tokens) < 3:
        return None
    return "".join(t[0] for t in tokens)


def normalise_person_name(name: str | None) -> str:
    """Lower-case words of a person's name without accents or punctuation, in their order."""
    if not name:
        return ""
    return " ".join(t for t in _NON_WORD.split(ascii_fold(name)) if t)
