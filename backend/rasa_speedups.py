"""Per-turn costs of Rasa 3.6 removed without changing what Rasa does.

Found with py-spy on a loaded `rasa run` (see README, "What moved the chat figures"). All are
installed by `install()`, which the project's tracker store calls when `rasa run` loads it, so
they are active exactly where the project's endpoints.yml is used:

* **Action-server answers.** `RemoteAction._validate_action_result` calls `jsonschema.validate`,
  which checks the (constant) response schema against the JSON-Schema meta-schema on every call
  before validating the answer: ~11 % of a worker's CPU. The replacement builds the validator for
  that schema once and validates each answer against the same schema; an invalid answer raises
  the same `ValidationError` (the best match, with Rasa's message appended) as before.
* **Event lookup by name.** `Event.resolve_by_type` walks every `Event` subclass for every event
  it deserialises (tracker loads, action answers): ~5 %. The replacement remembers the class found
  for each name; an unknown name falls through to Rasa's own lookup, so errors are unchanged.
* **Action-server connections.** `EndpointConfig.request` opens a new aiohttp session, and so a
  new TCP connection that the action server must accept, for every action call (2-4 a turn). The
  replacement keeps one session per endpoint and event loop; its connections are closed after
  2 s idle, before the action server's 5 s keep-alive ends, so a request never goes out on a
  connection the server is closing. Each request still has Rasa's timeout and headers.
"""

from __future__ import annotations

from typing import Any

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _install_action_result_validator()
    _install_event_type_cache()
    _install_kept_sessions()
    _installed = True


def _install_action_result_validator() -> None:
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for
    from rasa.core.actions import action as rasa_action

    original = rasa_action.RemoteAction._validate_action_result
    spec = rasa_action.RemoteAction.action_response_format_spec()
    validator_class = validator_for(spec)
    validator_class.check_schema(spec)  # once, instead of once per answer
    validator = validator_class(spec)

    def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        error = best_match(validator.iter_errors(result))  # what jsonschema.validate raises
        if error is not None:
            error.message += (
                f". Failed to validate Action server response from API, "
                f"make sure your response from the Action endpoint is valid. "
                f"For more information about the format visit "
                f"{rasa_action.DOCS_BASE_URL}/custom-actions"
            )
            raise error
        return True

    _validate_action_result.__wrapped__ = original  # type: ignore[attr-defined]
    rasa_action.RemoteAction._validate_action_result = _validate_action_result


def _install_event_type_cache() -> None:
    from rasa.shared.core.events import Event

    original = Event.resolve_by_type
    found: dict[str, type] = {}

    def resolve_by_type(type_name: str, default: type | None = None) -> type | None:
        cls = found.get(type_name)
        if cls is None:
            cls = original(type_name, default)
            if cls is not None and cls is not default:
                found[type_name] = cls
        return cls

    resolve_by_type.__wrapped__ = original  # type: ignore[attr-defined]
    Event.resolve_by_type = staticmethod(resolve_by_type)


CLIENT_KEEPALIVE_SECONDS = 2.0  # below Sanic's KEEP_ALIVE_TIMEOUT (5 s) on the action server


class _KeptSession:
    """`async with endpoint.session()` without closing the shared session at the end."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def __aenter__(self) -> Any:
        return self.session

    async def __aexit__(self, *exc: object) -> None:
        return None


def _install_kept_sessions() -> None:
    import asyncio
    import weakref

    import aiohttp
    from rasa.utils import endpoints

    original = endpoints.EndpointConfig.session

    def session(self: Any) -> _KeptSession:
        # The endpoint keeps one session per event loop (a session belongs to its loop).
        per_loop = self.__dict__.setdefault("_kept_sessions", weakref.WeakKeyDictionary())
        loop = asyncio.get_running_loop()
        shared = per_loop.get(loop)
        if shared is None or shared.closed:
            # As Rasa's own `EndpointConfig.session`, plus a connector that keeps connections.
            auth = (
                aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
                if self.basic_auth
                else None
            )
            shared = aiohttp.ClientSession(
                headers=self.headers,
                auth=auth,
                timeout=aiohttp.ClientTimeout(total=endpoints.DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(keepalive_timeout=CLIENT_KEEPALIVE_SECONDS),
            )
            per_loop[loop] = shared
        return _KeptSession(shared)

    session.__wrapped__ = original  # type: ignore[attr-defined]
    endpoints.EndpointConfig.session = session
