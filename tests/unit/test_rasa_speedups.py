"""backend.rasa_speedups: Rasa behaves as before, only without the repeated work."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import ActionExecuted, Event, SlotSet
from rasa.utils.endpoints import EndpointConfig

from backend import rasa_speedups


@pytest.fixture(scope="module", autouse=True)
def installed():
    rasa_speedups.install()
    rasa_speedups.install()  # idempotent: wrapping twice would be a bug


def _action() -> RemoteAction:
    return RemoteAction("action_x", EndpointConfig("http://127.0.0.1:1"))


def test_the_patches_are_installed_once():
    assert RemoteAction._validate_action_result.__wrapped__.__name__ == "_validate_action_result"
    assert not hasattr(RemoteAction._validate_action_result.__wrapped__, "__wrapped__")
    assert not hasattr(Event.resolve_by_type.__wrapped__, "__wrapped__")


def test_a_valid_action_answer_passes():
    answer = {
        "events": [{"event": "slot", "name": "goal", "value": "weight_loss"}],
        "responses": [{"text": "ok"}],
    }
    assert _action()._validate_action_result(answer) is True


def test_an_invalid_action_answer_is_rejected_with_rasas_message():
    with pytest.raises(ValidationError) as caught:
        _action()._validate_action_result({"events": [{"event": 5}], "responses": []})
    assert "Failed to validate Action server response from API" in caught.value.message
    with pytest.raises(ValidationError):
        _action()._validate_action_result({"events": "not a list"})


def test_event_names_resolve_as_before():
    assert Event.resolve_by_type("slot") is SlotSet
    assert Event.resolve_by_type("action") is ActionExecuted
    assert Event.resolve_by_type("slot") is SlotSet  # from the cache
    assert Event.resolve_by_type("no_such_event", default=SlotSet) is SlotSet
    assert Event.resolve_by_type("topic") is None
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("no_such_event")
    assert Event.from_parameters({"event": "slot", "name": "goal", "value": 1}) == SlotSet(
        "goal", 1
    )


async def _echo_server():
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        return web.json_response({"client_port": request.transport.get_extra_info("peername")[1]})

    app = web.Application()
    app.router.add_post("/webhook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001
    return runner, f"http://127.0.0.1:{port}/webhook"


async def test_action_calls_reuse_one_connection_and_drop_it_when_idle():
    import asyncio

    runner, url = await _echo_server()
    try:
        endpoint = EndpointConfig(url)
        first = await endpoint.request(json={"next_action": "action_x"})
        second = await endpoint.request(json={"next_action": "action_x"})
        assert first["client_port"] == second["client_port"]  # one TCP connection, kept
        await asyncio.sleep(rasa_speedups.CLIENT_KEEPALIVE_SECONDS + 0.5)
        third = await endpoint.request(json={"next_action": "action_x"})
        assert third["client_port"] != first["client_port"]  # closed by us while idle
    finally:
        await runner.cleanup()
