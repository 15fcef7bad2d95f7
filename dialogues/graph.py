"""A script's state graph: states, transitions, and which states are unreachable or dead ends.

Built from the YAML text even when the script has problems (an editor draws it while the
author types): each state that validates becomes a node with its exits; a state that does not
validate is still a node, marked ``invalid``, without edges. Reachability is the validator's
own rule (:func:`dialogues.checks.reachable_states`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pydantic
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from dialogues.checks import global_exits, reachable_states, state_exits
from dialogues.schema import GlobalHandlers, Script, State


@dataclass(frozen=True, slots=True)
class GraphNode:
    id: str
    start: bool = False
    end: bool = False
    #: Not reachable from ``start``.
    unreachable: bool = False
    #: Does not end the call and has no exit of its own.
    dead_end: bool = False
    #: Its definition does not validate (its exits are unknown).
    invalid: bool = False
    disposition: str | None = None


@dataclass(frozen=True, slots=True)
class GraphEdge:
    source: str
    target: str
    label: str
    #: ``global`` for the handlers that apply in every state.
    kind: str = "state"


@dataclass(slots=True)
class ScriptGraph:
    nodes: list[GraphNode] = field(default_factory=list)
    edges: list[GraphEdge] = field(default_factory=list)
    #: Why no graph could be drawn (YAML that does not parse, no ``states`` mapping).
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "nodes": [asdict(n) for n in self.nodes],
            "edges": [asdict(e) for e in self.edges],
            "error": self.error,
        }


#: The node that stands for "any state" in the edges of ``global`` handlers.
GLOBAL_NODE = "(any state)"


def script_graph(text: str) -> ScriptGraph:
    """The state graph of a script's YAML text (never raises for a bad script)."""
    try:
        root = YAML(typ="safe", pure=True).load(text)
    except YAMLError as e:
        return ScriptGraph(error=f"the YAML does not parse: {e}".splitlines()[0])
    if not isinstance(root, dict) or not isinstance(root.get("states"), dict):
        return ScriptGraph(error="the script has no 'states' mapping")
    states: dict[str, State] = {}
    invalid: set[str] = set()
    for name, body in root["states"].items():
        try:
            states[str(name)] = State.model_validate(body or {})
        except pydantic.ValidationError:
            invalid.add(str(name))
    try:
        handlers = GlobalHandlers.model_validate(root.get("global") or {})
    except pydantic.ValidationError:
        handlers = GlobalHandlers()
    start = root.get("start")
    script = Script.model_construct(
        script=str(root.get("script") or ""),
        start=str(start) if start is not None else None,
        states=states,
        global_=handlers,
    )
    reachable = reachable_states(script)
    graph = ScriptGraph()
    for name in root["states"]:
        name = str(name)
        state = states.get(name)
        exits = list(state_exits(state)) if state else []
        graph.nodes.append(
            GraphNode(
                id=name,
                start=name == script.start,
                end=bool(state and state.end),
                unreachable=name not in reachable and name not in invalid,
                dead_end=bool(state and not state.end and not exits),
                invalid=name in invalid,
                disposition=state.disposition if state else None,
            )
        )
        graph.edges += [GraphEdge(name, target, label) for label, target in exits]
    globals_ = list(global_exits(script))
    if globals_:
        graph.nodes.append(GraphNode(id=GLOBAL_NODE))
        graph.edges += [GraphEdge(GLOBAL_NODE, t, label, "global") for label, t in globals_]
    known = {node.id for node in graph.nodes}
    graph.edges = [e for e in graph.edges if e.target in known]
    return graph
