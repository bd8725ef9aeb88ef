"""Which secrets a definition may name: only its workspace's, and only by name. Refusals name the
file, the line and the field, like every other definition error."""

from __future__ import annotations

import textwrap

import pytest

from engine.definitions import load_definition
from engine.errors import DefinitionError

FLOW = textwrap.dedent(
    """\
    name: book
    steps:
      - id: book
        type: http
        url: https://erp.example.com/api
        headers:
          Authorization: "Bearer {{ secrets.ERP_TOKEN }}"
        json: {note: "{{ secrets['IAM_TOKEN'] }}"}
    """
)


def test_known_secrets_pass_and_unknown_ones_are_refused_at_their_line() -> None:
    load_definition(FLOW, "book.yaml", secret_names={"ERP_TOKEN", "IAM_TOKEN", "SPARE"})
    with pytest.raises(DefinitionError) as caught:
        load_definition(FLOW, "book.yaml", secret_names={"IAM_TOKEN"})
    [issue] = caught.value.issues
    assert (issue.file, issue.line, issue.field) == (
        "book.yaml",
        7,
        "steps.0.headers.Authorization",
    )
    assert issue.message.startswith(
        "unknown secret 'ERP_TOKEN'; this workspace's secrets: IAM_TOKEN"
    )
    assert "countersign secrets set ERP_TOKEN" in issue.message


def test_a_workspace_without_secrets_is_told_it_has_none() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_definition(FLOW, "book.yaml", secret_names=set())
    assert [(i.line, i.field) for i in caught.value.issues] == [
        (7, "steps.0.headers.Authorization"),
        (8, "steps.0.json.note"),
    ]
    assert "secrets: none" in caught.value.issues[0].message


def test_without_a_workspace_names_are_not_checked() -> None:
    """`workflows validate` checks a file on its own: no workspace, no secret names."""
    assert load_definition(FLOW, "book.yaml").name == "book"


@pytest.mark.parametrize(
    "template",
    [
        "{% set s = secrets %}{{ s.update({'ERP_TOKEN': 'x'}) or '' }}",
        "{{ secrets }}",
        "{% for k in secrets %}{{ k }}{% endfor %}",
    ],
)
def test_secrets_as_a_whole_are_refused(template: str) -> None:
    text = FLOW.replace("{{ secrets['IAM_TOKEN'] }}", template.replace('"', "'"))
    with pytest.raises(DefinitionError) as caught:
        load_definition(text, "book.yaml", secret_names={"ERP_TOKEN", "IAM_TOKEN"})
    [issue] = caught.value.issues
    assert (issue.line, issue.field) == (8, "steps.0.json.note")
    assert "read a secret by its name" in issue.message


def test_calling_a_method_on_secrets_is_an_unknown_secret() -> None:
    text = FLOW.replace("{{ secrets['IAM_TOKEN'] }}", "{{ secrets.update({}) }}")
    with pytest.raises(DefinitionError, match="unknown secret 'update'"):
        load_definition(text, "book.yaml", secret_names={"ERP_TOKEN", "IAM_TOKEN"})
