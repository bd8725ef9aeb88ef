"""Slack listeners are top-level functions; `register` binds their dependencies with
`bot.listeners.bind`, and Bolt must then see (and inject) only its own arguments."""

from __future__ import annotations

import inspect

from slack_bolt.util.utils import get_arg_names_of_callable, get_name_for_callable

from bot.listeners import actions, bind, commands, events, functions, views


def test_bolt_injects_only_its_own_arguments_into_a_bound_listener() -> None:
    deps, threads = object(), object()
    reply = bind(events.thread_reply, deps, threads)
    assert get_arg_names_of_callable(reply) == ["event", "context", "client"]
    assert get_name_for_callable(reply) == "thread_reply"
    assert inspect.iscoroutinefunction(reply)  # AsyncApp accepts only coroutine listeners
    command = bind(commands.workflow_command, deps)
    assert get_arg_names_of_callable(command) == [
        "ack",
        "command",
        "context",
        "respond",
        "client",
    ]


def test_every_button_listener_gets_only_bolt_arguments() -> None:
    for action_id, work in actions.BUTTONS.items():
        bound = bind(actions.button_clicked, object(), work, action_id)
        assert get_arg_names_of_callable(bound) == ["ack", "body", "client", "context"]


def test_every_modal_listener_gets_only_bolt_arguments_and_keeps_its_name() -> None:
    for work in views.SUBMISSIONS.values():
        bound = bind(views.modal_submitted, object(), work, name=work.__name__)
        assert get_arg_names_of_callable(bound) == ["ack", "body", "view", "context", "client"]
        assert get_name_for_callable(bound) == work.__name__


def test_the_workflow_step_listeners_get_only_bolt_arguments() -> None:
    deps, steps = object(), object()
    approval = bind(functions.get_approval, deps, steps, functions.BuiltInVersions())
    assert get_arg_names_of_callable(approval) == ["event", "context", "fail"]
    assert get_name_for_callable(approval) == "get_approval"
    run = bind(functions.run_workflow, deps, steps)
    assert get_arg_names_of_callable(run) == ["event", "context", "fail"]
    middleware = bind(functions.function_token, steps)
    assert get_arg_names_of_callable(middleware) == ["body", "context", "next"]
