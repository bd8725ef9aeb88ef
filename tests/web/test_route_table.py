"""The API's routes are one explicit table (`web.api.server.ROUTES`): an operation declared in a
module but left out of its `OPERATIONS` would be neither served nor documented, silently."""

from __future__ import annotations

import importlib
import pkgutil

import web.api
from web.api.registry import Operation
from web.api.server import ROUTES


def test_every_declared_operation_is_in_the_route_table_once() -> None:
    declared: list[Operation] = []
    for info in pkgutil.iter_modules(web.api.__path__):
        module = importlib.import_module(f"web.api.{info.name}")
        declared += [v for v in vars(module).values() if isinstance(v, Operation)]
    ids = [op.operation_id for op in ROUTES]
    assert len(ids) == len(set(ids)), "an operation is listed twice"
    assert {op.operation_id for op in declared} == set(ids)


def test_routes_are_unique_by_method_and_path() -> None:
    keys = [(op.method, op.path) for op in ROUTES]
    assert len(keys) == len(set(keys))
