"""The registry of evaluation tasks: name -> ``"module:Class"`` of a :class:`csip.eval.task.Task`.

Everything that lists the tasks reads it: ``csip eval --task`` (its choices), ``EvalConfig``
(what ``--task`` accepts, what ``"all"`` means), the plan (which tasks run), ``results.json``
(its task keys, read back by each task's table type) and the report (one section per task).
The order of :data:`TASKS` is the report order (the sections of ``report.md``, the task keys
of ``results.json``).

A new task is one module with a :class:`~csip.eval.task.Task` subclass and one line here; a
plug-in (or a test) adds one at run time with :func:`register_task`.

This module imports nothing (no torch, not even the tasks): ``csip eval --help`` reads it, and a
task's module is imported only when :func:`load_task` asks for it.
"""

from __future__ import annotations

import importlib
import re

#: Task name -> "module:Class" of its :class:`~csip.eval.task.Task`, in report order.
TASKS: dict[str, str] = {
    "cbir": "csip.eval.cbir:Cbir",
    "srr": "csip.eval.srr:Srr",
    "vqa": "csip.eval.vqa:Vqa",
    "crossmodal": "csip.eval.crossmodal:Crossmodal",  # not in --task all (Task.in_all)
    "zeroshot": "csip.eval.relation_shot:ZeroShot",  # not in --task all (Task.in_all)
}

#: Names no task may take: ``--task all``, and the other top-level keys of ``results.json``
#: (:func:`csip.eval.api.results_header`, :data:`csip.eval.results.TRAILER_KEYS`) and the
#: attributes of :class:`csip.eval.results.EvalResults`, beside which the task tables sit.
RESERVED = frozenset({
    "all", "format", "version", "csip_version", "created", "command", "seed", "device", "torch_version",
    "cache", "tasks", "notes", "encoders", "settings", "timings_s", "figures", "fingerprint",
    "fingerprint_settings", "command_args", "header", "tables", "model", "to_json", "from_json",
})

_NAME = re.compile(r"[a-z][a-z0-9_]*")


def task_names() -> tuple[str, ...]:
    """The registered task names, in report order."""
    return tuple(TASKS)


def register_task(name: str, target: str, *, replace: bool = False) -> None:
    """Add task ``name`` (imported as ``target``, ``"module:Class"``, when first used) at the
    end of the report order. ``ValueError`` for a name that is not a lower-case identifier, is
    reserved (:data:`RESERVED`) or is taken (unless ``replace``), or a target without ``:``."""
    if not _NAME.fullmatch(name) or name in RESERVED:
        raise ValueError(f"task name {name!r}: expected a lower-case identifier, not one of "
                         f"{', '.join(sorted(RESERVED))}")
    if name in TASKS and not replace:
        raise ValueError(f"task {name!r} is registered already ({TASKS[name]})")
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"task {name!r}: expected 'module:Class', got {target!r}")
    TASKS[name] = target


def unregister_task(name: str) -> None:
    """Remove task ``name`` (``KeyError`` when it is not registered)."""
    del TASKS[name]


def load_task(name: str):
    """A :class:`~csip.eval.task.Task` object of task ``name`` (its module imported now).
    ``KeyError`` for a name not registered; ``TypeError`` when the class's ``name`` differs
    from the name it is registered under."""
    module, _, attr = TASKS[name].partition(":")
    task = getattr(importlib.import_module(module), attr)()
    if getattr(task, "name", None) != name:
        raise TypeError(f"{TASKS[name]} is registered as task {name!r} but its name is {getattr(task, 'name', None)!r}")
    return task


__all__ = ["RESERVED", "TASKS", "load_task", "register_task", "task_names", "unregister_task"]
