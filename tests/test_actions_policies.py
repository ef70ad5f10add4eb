"""Trigger policy files: the default parses, good files load, bad ones fail naming file and field; signing; holdout hash."""

from __future__ import annotations

import base64
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from kgcrm.actions.holdout import HOLDOUT, holdout_bucket, holdout_group
from kgcrm.actions.policies import ActionType, load_policies, parse_policies
from kgcrm.actions.webhooks import new_secret, secret_key, sign, verify
from kgcrm.graph.errors import DispatchConfigError, GraphConfigError, PolicyError
from kgcrm.graph.model import Label
from kgcrm.graph.settings import Settings

KGCRM = str(Path(sys.executable).parent / "kgcrm")

GOOD = """
policies:
  - name: hot-contact
    label: Contact
    enter: 0.7
    rearm: 0.4
    min_delta: 0.1
    cooldown: 12h
    daily_cap_per_owner: 3
    action: both
    approval: {property: annual_revenue, above: 1000000}
"""


def test_default_policies_load() -> None:
    policies = load_policies(None)
    assert [p.name for p in policies] == ["hot-account", "deal-heating-up"]
    assert policies[1].approval is not None and policies[1].approval.property == "amount"


def test_a_policy_file_loads_every_field(tmp_path: Path) -> None:
    path = tmp_path / "policies.yml"
    path.write_text(GOOD)
    (policy,) = load_policies(path)
    assert policy.label == Label.CONTACT
    assert (policy.enter, policy.rearm, policy.min_delta) == (0.7, 0.4, 0.1)
    assert policy.cooldown == timedelta(hours=12)
    assert policy.daily_cap_per_owner == 3
    assert policy.action is ActionType.BOTH and policy.action.kinds == ("webhook", "task")


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ("rearm: 0.4", "rearm: 0.8", "policies[0] (hot-contact) field (policy): rearm (0.8) must be below enter (0.7)"),
        ("label: Contact", "label: Product", "field label: must be one of Account, Contact, Opportunity"),
        ("cooldown: 12h", "cooldown: soon", "field cooldown: must be a duration such as 30m, 12h or 7d"),
        ("enter: 0.7", "enter: 1.7", "field enter: Input should be less than or equal to 1"),
        ("action: both", "action: email", "field action: Input should be 'webhook', 'task' or 'both'"),
        ("property: annual_revenue", "property: Annual Revenue", "field approval.property: must be a snake_case"),
        ("daily_cap_per_owner: 3", "daily_cap_per_owner: 3\n    colour: red", "field colour: Extra inputs are not permitted"),
    ],
)
def test_bad_policy_names_file_and_field(tmp_path: Path, replace: str, by: str, message: str) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(GOOD.replace(replace, by))
    with pytest.raises(PolicyError) as caught:
        load_policies(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_bad_documents(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"x.yml line \d+: not valid YAML"):
        parse_policies("policies:\n  - [unclosed\n", "x.yml")
    with pytest.raises(PolicyError, match="one key, policies"):
        parse_policies("rules: []", "x.yml")
    with pytest.raises(PolicyError, match="repeated: a"):
        parse_policies("policies:\n - {name: a, label: Account, enter: 0.9, rearm: 0.5}\n"
                       " - {name: a, label: Contact, enter: 0.9, rearm: 0.5}\n", "x.yml")
    with pytest.raises(PolicyError, match="cannot read the policies file"):
        load_policies(tmp_path / "absent.yml")


def test_cli_policies_check_reports_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(GOOD.replace("enter: 0.7", "enter: high"))
    result = subprocess.run([KGCRM, "policies", "check", str(path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith(f"kgcrm: error: {path}: policies[0] (hot-contact) field enter:")
    assert "Traceback" not in result.stderr
    ok = subprocess.run([KGCRM, "policies", "check"], capture_output=True, text=True)
    assert ok.returncode == 0 and "hot-account: Account enters at 0.8" in ok.stdout


def test_signature_matches_the_standard_webhooks_construction() -> None:
    key = bytes(range(32))
    secret = "whsec_" + base64.b64encode(key).decode()
    assert secret_key(secret) == key
    body = b'{"a":1}'
    signature = sign(key, "msg_1", 1700000000, body)
    import hashlib
    import hmac
    expected = base64.b64encode(hmac.new(key, b'msg_1.1700000000.{"a":1}', hashlib.sha256).digest()).decode()
    assert signature == "v1," + expected
    assert verify(key, "msg_1", "1700000000", body, f"v1,bogus {signature}")
    assert not verify(key, "msg_1", "1700000001", body, signature)
    assert not verify(key, "msg_2", "1700000000", body, signature)
    assert secret_key(new_secret()) != secret_key(new_secret())
    with pytest.raises(DispatchConfigError, match="whsec_"):
        secret_key("plain-secret")
    with pytest.raises(DispatchConfigError, match="at least 24 bytes"):
        secret_key("whsec_" + base64.b64encode(b"short").decode())


def test_holdout_assignment_is_stable_and_about_the_fraction() -> None:
    accounts = [f"acc-{i}" for i in range(2000)]
    first = [holdout_group(a, 0.2, "salt") for a in accounts]
    assert first == [holdout_group(a, 0.2, "salt") for a in accounts]
    held = first.count(HOLDOUT)
    assert 300 < held < 500  # 400 expected; binomial sd ~18
    # Raising the fraction only moves accounts into the holdout, never out of it.
    wider = [holdout_group(a, 0.3, "salt") for a in accounts]
    assert all(w == HOLDOUT for f, w in zip(first, wider) if f == HOLDOUT)
    assert holdout_bucket("acc-1", "salt") != holdout_bucket("acc-1", "other-salt")
    assert all(holdout_group(a, 0.0, "salt") != HOLDOUT for a in accounts)


def test_activation_settings() -> None:
    assert Settings.load(KGCRM_POLICIES_FILE="").policies_file is None
    assert Settings.load(KGCRM_POLICIES_FILE="rules.yml").policies_file == Path("rules.yml")
    # A malformed secret is refused by the dispatcher without repeating it (errors end up in logs).
    with pytest.raises(DispatchConfigError) as caught:
        secret_key("plain-s3cret-value")
    assert "s3cret" not in str(caught.value)
    with pytest.raises(GraphConfigError, match="KGCRM_HOLDOUT_FRACTION=.1.0.: Input should be less than 1"):
        Settings.load(KGCRM_HOLDOUT_FRACTION="1.0")
