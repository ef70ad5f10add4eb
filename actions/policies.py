"""Trigger policies: when a score change becomes an action, read from a declarative YAML file."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kgcrm.graph.errors import PolicyError
from kgcrm.graph.model import SCORED_LABELS, Label

logger = logging.getLogger(__name__)

# Used when KGCRM_POLICIES_FILE is not set; docs/activation.md shows it and explains each field.
DEFAULT_POLICIES_YAML = """\
policies:
  - name: hot-account
    label: Account
    enter: 0.80
    rearm: 0.60
    min_delta: 0.05
    cooldown: 7d
    daily_cap_per_owner: 20
    action: both
  - name: deal-heating-up
    label: Opportunity
    enter: 0.70
    rearm: 0.50
    min_delta: 0.05
    cooldown: 3d
    daily_cap_per_owner: 10
    action: webhook
    approval:
      property: amount
      above: 100000
"""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_SECONDS_PER_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PROPERTY = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")


class ActionType(StrEnum):
    WEBHOOK = "webhook"
    TASK = "task"
    BOTH = "both"

    @property
    def kinds(self) -> tuple[str, ...]:
        """The Action kinds one firing creates (`both` creates one of each)."""
        return ("webhook", "task") if self is ActionType.BOTH else (self.value,)


class ApprovalRule(BaseModel):
    """Actions whose subject's `property` is above `above` wait for a person as `pending_approval`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    property: str
    above: float

    @field_validator("property")
    @classmethod
    def _check_property(cls, name: str) -> str:
        if not _PROPERTY.match(name):
            raise ValueError("must be a snake_case property name such as amount")
        return name


class Policy(BaseModel):
    """One trigger policy: fire once when a score rises through `enter`, re-arm below `rearm`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    label: Label
    enter: float = Field(ge=0, le=1)
    rearm: float = Field(ge=0, le=1)
    min_delta: float = Field(0.0, ge=0, le=1)
    cooldown: timedelta = timedelta(0)
    daily_cap_per_owner: int | None = Field(None, ge=1)
    action: ActionType = ActionType.WEBHOOK
    approval: ApprovalRule | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError("must be 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit")
        return name

    @field_validator("label", mode="before")
    @classmethod
    def _check_label(cls, value: Any) -> Any:
        allowed = [label.value for label in SCORED_LABELS]
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    @field_validator("cooldown", mode="before")
    @classmethod
    def _parse_cooldown(cls, value: Any) -> Any:
        return parse_duration(value)

    @model_validator(mode="after")
    def _check_hysteresis(self) -> Policy:
        if self.rearm >= self.enter:
            raise ValueError(f"rearm ({self.rearm}) must be below enter ({self.enter}), or the policy would fire on noise")
        return self


def parse_duration(value: Any) -> timedelta:
    """A duration as seconds (a number) or a number with a unit: 90s, 15m, 12h, 7d."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 30m, 12h or 7d")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError("must be a duration such as 30m, 12h or 7d")
        seconds = float(match.group(1)) * _SECONDS_PER_UNIT[match.group(2)]
    if seconds < 0:
        raise ValueError("must not be negative")
    return timedelta(seconds=seconds)


def parse_policies(text: str, source: str) -> list[Policy]:
    """Parse and validate a policies document; errors name `source`, the field and why."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        raise PolicyError(f"{source}{line}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(document, dict) or set(document) != {"policies"}:
        raise PolicyError(f"{source}: must be a mapping with one key, policies (a list of policies)")
    entries = document["policies"]
    if not isinstance(entries, list):
        raise PolicyError(f"{source}: policies must be a list")
    policies: list[Policy] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise PolicyError(f"{source}: policies[{index}] must be a mapping of fields")
        label = entry.get("name", index)
        try:
            policies.append(Policy.model_validate(entry))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "(policy)"
            message = err["msg"].removeprefix("Value error, ")
            raise PolicyError(f"{source}: policies[{index}] ({label}) field {field}: {message}") from None
    names = [p.name for p in policies]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PolicyError(f"{source}: policy names must be unique; repeated: {', '.join(duplicates)}")
    return policies


def load_policies(path: Path | None) -> list[Policy]:
    """The policies in `path`, or the built-in default when no file is configured."""
    if path is None:
        return parse_policies(DEFAULT_POLICIES_YAML, "the built-in default policies")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the policies file ({exc.strerror or exc})") from None
    policies = parse_policies(text, str(path))
    logger.info("loaded %s trigger policies from %s", len(policies), path)
    return policies
