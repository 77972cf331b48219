"""The placement service's one command path: each command has one handler, whatever door it came through."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import sys
from pathlib import Path

from services.placement import domain, handlers
from shared.contracts import EventContext, parse_event
from shared.contracts.placement_vocabulary import PlacementRoute

from .placement_builders import Catalogue, days_ago, in_memory_placements

PURE = ("shared.aggregate", "shared.contracts", "shared.errors")


def test_every_placement_command_has_one_handler():
    commands = {cls for _, cls in inspect.getmembers(handlers, inspect.isclass)
                if dataclasses.is_dataclass(cls) and cls.__module__ == handlers.__name__
                and not issubclass(cls, handlers.Written)}

    assert commands == set(handlers.HANDLERS)
    assert len(set(handlers.HANDLERS.values())) == len(commands)


def test_a_command_sent_to_its_handler_is_recorded_with_who_sent_it_and_gives_the_position():
    store = in_memory_placements()
    catalogue = Catalogue(store)
    scheme_id, case = catalogue.scheme(), catalogue.case()
    context = EventContext(actor="district-inbox")

    placed = handlers.handle(store, context, handlers.StartPlacement(case_id=case.case_id, scheme_id=scheme_id,
                                                                     route=PlacementRoute.panel,
                                                                     occurred_at=days_ago(3)))

    assert (placed.case_id, placed.person_ref, placed.position) == (case.case_id, case.person_ref, store.position())
    assert store.get_placement(placed.id).scheme_id == scheme_id
    events = [parse_event(n.state) for n in store.recorder.select_notifications(1, 100)]
    assert [(e.event_type, e.actor) for e in events[-2:]] == [("PlacementStarted", "district-inbox"),
                                                              ("UnitAllocated", "district-inbox")]


def test_the_placement_domain_imports_nothing_but_the_pure_parts_of_shared():
    outside = []
    for module in Path(domain.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            outside += [f"{module.name}: {name}" for name in names
                        if name.split(".")[0] not in sys.stdlib_module_names and not name.startswith(PURE)]

    assert outside == []
