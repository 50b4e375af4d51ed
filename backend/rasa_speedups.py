"""Two per-turn costs of Rasa 3.6 removed without changing what Rasa does.

Found with py-spy on a loaded `rasa run` (see README, "What moved the chat figures"). Both are
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
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _install_action_result_validator()
    _install_event_type_cache()
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
