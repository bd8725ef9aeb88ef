"""Form fields (`FormField`) as Block Kit input blocks, and submitted view state back to values.

One input block per field; its block_id is the field id, so `response_action: errors` can name the
field the engine complained about.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    ConversationSelectElement,
    DatePickerElement,
    DateTimePickerElement,
    EmailInputElement,
    InputBlock,
    InputInteractiveElement,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    StaticMultiSelectElement,
    StaticSelectElement,
    UrlInputElement,
    UserMultiSelectElement,
    UserSelectElement,
)

from bot.blocks.kit import LABEL_TEXT, OPTION_TEXT, OPTIONS, truncate
from engine import FormField, principal
from engine import Option as FieldOption

ACTION = "value"  # every input element's action_id; the block_id names the field


def _options(field: FormField) -> list[Option]:
    out = []
    for raw in (field.options or [])[:OPTIONS]:
        opt = raw if isinstance(raw, FieldOption) else FieldOption(value=raw)
        out.append(Option(value=opt.value, text=truncate(opt.label or opt.value, OPTION_TEXT)))
    return out


def _initial(options: list[Option], values: list[str]) -> list[Option]:
    return [o for o in options if o.value in values]


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def _slack_users(value: Any) -> list[str]:
    return [v for v in _as_list(value) if principal.is_kind(v, "user")]


def element(field: FormField, value: Any = None) -> InputInteractiveElement:
    """The Block Kit element for one field type, pre-filled with `value` (or the default)."""
    value = field.default if value is None else value
    kind = field.type
    if kind in ("text", "multiline"):
        return PlainTextInputElement(
            action_id=ACTION,
            multiline=kind == "multiline",
            max_length=field.max_length,
            initial_value=None if value is None else truncate(str(value), 3000),
        )
    if kind == "number":
        return NumberInputElement(
            action_id=ACTION,
            is_decimal_allowed=True,
            min_value=field.min,
            max_value=field.max,
            initial_value=None if value is None else value,
        )
    if kind in ("select", "multiselect", "checkbox"):
        return _choice(field, value)
    if kind == "date":
        return DatePickerElement(action_id=ACTION, initial_date=_date(value))
    if kind == "datetime":
        return DateTimePickerElement(action_id=ACTION, initial_date_time=_timestamp(value))
    if kind == "user":  # Slack's picker pre-selects Slack users only (not an email address)
        users = _slack_users(value)
        return UserSelectElement(action_id=ACTION, initial_user=users[0] if users else None)
    if kind == "users":
        return UserMultiSelectElement(action_id=ACTION, initial_users=_slack_users(value) or None)
    if kind == "channel":
        return ConversationSelectElement(action_id=ACTION, initial_conversation=value)
    if kind == "email":
        return EmailInputElement(action_id=ACTION, initial_value=value)
    if kind == "url":
        return UrlInputElement(action_id=ACTION, initial_value=value)
    raise ValueError(f"no Block Kit element for field type {kind!r}")


def _choice(field: FormField, value: Any) -> InputInteractiveElement:
    if field.type == "checkbox":
        yes = Option(value="true", text=truncate(field.hint or "Yes", OPTION_TEXT))
        return CheckboxesElement(
            action_id=ACTION, options=[yes], initial_options=[yes] if value is True else None
        )
    options = _options(field)
    chosen = _initial(options, _as_list(value))
    if field.type == "select":
        return StaticSelectElement(
            action_id=ACTION, options=options, initial_option=chosen[0] if chosen else None
        )
    return StaticMultiSelectElement(
        action_id=ACTION, options=options, initial_options=chosen or None
    )


def _date(value: Any) -> str | None:
    if isinstance(value, date):
        return value.isoformat()[:10]
    return str(value)[:10] if value else None


def _timestamp(value: Any) -> int | None:
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, str) and value:
        return int(datetime.fromisoformat(value).timestamp())
    return None


def input_block(field: FormField, value: Any = None, *, required: bool | None = None) -> Block:
    return InputBlock(
        block_id=field.id,
        label=truncate(field.label or field.id.replace("_", " ").capitalize(), LABEL_TEXT),
        hint=truncate(field.hint, LABEL_TEXT) if field.hint and field.type != "checkbox" else None,
        optional=not (field.required if required is None else required),
        element=element(field, value),
    )


def read(fields: list[FormField], state: Mapping[str, Any]) -> dict[str, Any]:
    """Values from a submitted view's `state.values` (numbers stay text): `engine.forms`
    coerces and checks them. Empty fields are left out, so defaults and required checks apply."""
    out: dict[str, Any] = {}
    for field in fields:
        raw = state.get(field.id, {}).get(ACTION)
        if raw is None:
            continue
        value = _read_one(field, raw)
        if value not in (None, "", []):
            out[field.id] = value
    return out


def _read_one(field: FormField, raw: Mapping[str, Any]) -> Any:
    kind = field.type
    if kind == "checkbox":
        return bool(raw.get("selected_options"))
    if kind == "select":
        option = raw.get("selected_option")
        return option["value"] if option else None
    if kind == "multiselect":
        return [o["value"] for o in raw.get("selected_options") or []]
    if kind == "date":
        return raw.get("selected_date")
    if kind == "datetime":
        ts = raw.get("selected_date_time")
        return None if ts is None else datetime.fromtimestamp(int(ts), UTC).isoformat()
    if kind == "user":
        return raw.get("selected_user")
    if kind == "users":
        return list(raw.get("selected_users") or [])
    if kind == "channel":
        return raw.get("selected_conversation")
    return raw.get("value")
