"""The shape of backend/: areas, the direction of their imports, no cycle between them.

An AST walk over every module under backend/ (module-level AND function-level imports, so a
cycle cannot hide inside a function) builds the import graph between areas. An area is the
first name under `backend.` (`backend.crm.service` → `crm`). Modules that translate a request
into a service call (web views, CLI commands, scheduled jobs, event handlers) are *edges*: they
sit above every area and may import any of them; the rules below hold for the cores.

Rules (docs/architecture.md explains them):
1. a core module imports only areas of a lower layer than its own (or its own area);
2. a core module never imports another area's `service` module (except the few calls down
   listed in SERVICE_CALLS_DOWN): a side effect in another area is an event
   (backend/events.py) handled there, wired in backend/bootstrap.py; facts of a lower area
   are read through its reader modules (models, records, consent, tracker...);
3. the area graph (cores and edges together) has no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BACKEND = ROOT / "backend"

# Lower number = lower layer. An area may import areas with a smaller number only.
LAYERS: dict[str, int] = {
    # kernel: no business knowledge
    "config": 0,
    "db": 1,
    "integrations": 1,
    "logging_setup": 0,
    "money": 0,
    "migrations": 1,
    "events": 0,
    "tracker_events": 1,
    "twilio_api": 2,
    "commands": 0,
    "chat_ids": 0,
    "chat_feed": 1,  # push to website chat windows (Redis pub/sub or in-process)
    "ratelimit": 1,
    "bus": 1,
    "incidents": 2,
    "ledger": 2,
    "safety": 0,
    "sentence_encoder": 1,
    "sample_data": 0,
    "goals": 0,
    "language": 0,
    # areas without business dependencies
    "outbox": 3,
    "jobs": 3,
    "catalog": 3,
    "auth": 3,
    "health": 3,
    "replay": 3,  # custom-action answers for resent chat turns (used by actions/ only)
    # business areas, lower ones are read by higher ones
    "trends": 4,
    "privacy": 4,  # the registry of personal-data columns (erasure, export)
    "contacts": 5,
    "crm": 6,
    "orders": 6,
    "messaging": 7,
    "sales": 8,
    "alerts": 8,  # team alerts: outbox rows to Slack/Teams/the team mailbox (no customer data)
    "training": 6,  # the review queue: reads contacts' consent and Rasa's tracker events
    # entrypoints and wiring
    "dashboard": 9,
    "admin": 10,  # admin API and pages; its queries read the dashboard's helpers
    "api": 2,  # api/deps.py (session, settings for views); app.py and public.py are edges
    "rasa_ext": 9,
    "channels": 9,
    "supervisor": 9,
    "cli": 10,
    "cli_commands": 10,
    "models": 10,
    "bootstrap": 11,
    "__main__": 12,
    "__init__": 0,
}
# Modules that are entrypoints of their area (requests, commands, schedules, reactions).
EDGE_MODULES = {
    "views", "web", "webhooks", "security", "cli", "jobs", "handlers", "public", "app", "csrf",
}  # fmt: skip
# Areas that are entrypoints or wiring as a whole (their imports are not layered).
TOP_AREAS = {"cli", "cli_commands", "models", "bootstrap", "__main__"}
# Calls down the layers into another area's service that are use cases of the caller, not side
# effects of it (each one: caller module -> service module, and why).
SERVICE_CALLS_DOWN = {
    # the chat's lead use cases record on the contact first (conversation flags, interactions,
    # the contact form): contacts is the layer below sales
    ("backend.sales.service", "backend.contacts.service"),
    # a takeover is a flag on the conversation (created if the chat has none yet)
    ("backend.sales.takeover", "backend.contacts.service"),
    # a staff reply is a message like any other: it goes through the send gate
    ("backend.sales.inbox", "backend.messaging.service"),
    # reading a transcript is a read of personal data: logged
    ("backend.sales.transcript", "backend.auth.service"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every backend module this file imports, wherever the import statement is."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from backend.crm import service` imports the module backend.crm.service
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", "") == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.add(str(node.args[0].value))
    return {name for name in found if name == "backend" or name.startswith("backend.")}


def _existing(name: str, modules: set[str]) -> str | None:
    """The backend module `name` refers to (an attribute import falls back to its module)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_edge(module: str) -> bool:
    parts = module.split(".")
    return _area(module) in TOP_AREAS or (len(parts) > 2 and parts[-1] in EDGE_MODULES)


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in BACKEND.rglob("*.py")}
    modules = set(files)
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        targets = {_existing(name, modules) for name in _imports(path)}
        graph[module] = {t for t in targets if t and t != module and t != "backend"}
    return graph


GRAPH = _graph()


def test_every_area_has_a_layer():
    missing = sorted({_area(m) for m in GRAPH} - LAYERS.keys())
    assert not missing, f"add these areas to LAYERS in {__file__}: {missing}"


def test_cores_import_only_lower_layers():
    wrong = []
    for module, targets in GRAPH.items():
        if _is_edge(module):
            continue
        area = _area(module)
        for target in targets:
            other = _area(target)
            if other != area and LAYERS.get(other, 99) >= LAYERS.get(area, -1):
                wrong.append(f"{module} -> {target}")
    assert not sorted(wrong), "imports against the layer table:\n" + "\n".join(sorted(wrong))


def test_no_core_imports_another_areas_service():
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if not _is_edge(module)
        for target in targets
        if target.endswith(".service")
        and _area(target) != _area(module)
        and (module, target) not in SERVICE_CALLS_DOWN
    )
    assert not wrong, "side effects in another area go through events:\n" + "\n".join(wrong)


def _area_graph() -> dict[str, set[str]]:
    """Cores and edges as separate nodes: `crm` and `crm:edge`."""
    graph: dict[str, set[str]] = {}

    def node(module: str) -> str:
        return _area(module) + (":edge" if _is_edge(module) else "")

    for module, targets in GRAPH.items():
        source = node(module)
        graph.setdefault(source, set())
        graph[source].update(node(t) for t in targets if node(t) != source)
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_cycle_between_areas():
    cycle = _find_cycle(_area_graph())
    assert cycle is None, "import cycle between areas: " + " -> ".join(cycle or [])


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
    ],
)
def test_cycle_finder(graph, cycle):
    assert _find_cycle(graph) == cycle


def test_function_level_imports_are_seen(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from backend.crm import service as crm\n")
    assert "backend.crm.service" in _imports(source)
