"""A person field may hold an email address now; Slack's user picker is pre-filled only with
Slack users (an address there would make Slack refuse the whole modal)."""

from __future__ import annotations

from bot.blocks.forms import element
from bot.blocks.kit import mention
from engine.definitions.models import FormField


def test_user_pickers_are_prefilled_with_slack_users_only() -> None:
    one = FormField(id="manager", type="user")
    many = FormField(id="team", type="users")
    assert element(one, "U0ANN").to_dict()["initial_user"] == "U0ANN"
    assert "initial_user" not in element(one, "email:bob@example.com").to_dict()
    team = element(many, ["U0ANN", "email:bob@example.com"]).to_dict()
    assert team["initial_users"] == ["U0ANN"]


def test_people_and_channels_read_as_mentions_and_addresses() -> None:
    assert [mention(p) for p in ("U0ANN", "C0DEPLOY", "#deploys", "email:bob@example.com")] == [
        "<@U0ANN>",
        "<#C0DEPLOY>",
        "#deploys",
        "bob@example.com",
    ]
