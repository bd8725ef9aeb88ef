"""Values a template inserts into an http step's URL stay inside their path segment or query
value: a requester's input cannot change which path the request goes to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from engine.commands import CallHttp
from engine.definitions.models import HttpAction
from engine.ports import Failed, Succeeded
from outbound.http import HttpHandler
from tests.runtime.conftest import local_server


class RawTarget:
    """Records the request target exactly as it arrived on the wire."""

    def __init__(self) -> None:
        self.url = ""
        self.seen: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(request.raw_path)
        return web.json_response({})


@pytest.fixture
async def raw_target() -> AsyncIterator[RawTarget]:
    found = RawTarget()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", found.handle)
    async with local_server(app) as found.url:
        yield found


def call(url: str, **inputs: Any) -> CallHttp:
    return CallHttp(
        key="r1:book:1",
        tenant_id="T1",
        run_id="r1",
        step_id="book",
        attempt=1,
        action=HttpAction(url=url, method="GET"),
        context={"inputs": inputs, "run": {"id": "r1"}},
    )


async def test_an_input_cannot_climb_out_of_its_path_segment(
    http: HttpHandler, raw_target: RawTarget
) -> None:
    url = raw_target.url + "/orders/{{ inputs.id }}/status?note={{ inputs.note }}"
    outcome = await http.perform(call(url, id="../admin?x=", note="a&b=c #d"))
    assert isinstance(outcome, Succeeded)
    # "=" may stand in a path segment as it is; "/" and "?" may not.
    assert raw_target.seen == ["/orders/..%2Fadmin%3Fx=/status?note=a%26b%3Dc%20%23d"]


async def test_raw_url_lets_the_author_insert_a_base_url(
    http: HttpHandler, raw_target: RawTarget
) -> None:
    outcome = await http.perform(
        call("{{ inputs.base | raw_url }}/x/{{ inputs.id }}", base=raw_target.url, id="a/b")
    )
    assert isinstance(outcome, Succeeded) and raw_target.seen == ["/x/a%2Fb"]


async def test_a_base_url_from_a_value_needs_raw_url_and_the_failure_says_so(
    http: HttpHandler, raw_target: RawTarget
) -> None:
    outcome = await http.perform(call("{{ inputs.base }}/x", base=raw_target.url))
    assert isinstance(outcome, Failed) and "| raw_url" in outcome.error
    assert raw_target.seen == []


async def test_a_dot_segment_fails_the_request_without_sending_it(
    http: HttpHandler, raw_target: RawTarget
) -> None:
    outcome = await http.perform(call(raw_target.url + "/users/{{ inputs.id }}/x", id=".."))
    assert isinstance(outcome, Failed) and "cannot be inserted into a URL" in outcome.error
    assert raw_target.seen == []
