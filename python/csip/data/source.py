"""The :class:`Source` protocol every dataset adapter implements, and :func:`open_source`.

A source is an indexable, picklable, deterministic list of :class:`~csip.data.sample.Sample`:
``csip precompute`` ships it to worker processes and calls ``load(i)`` for every ``i`` in
``range(len(source))``; ``load`` either returns the sample or raises
:class:`~csip.data.sample.SkipItem` with a short reason (counted in the cache manifest).
``options()`` returns the JSON-able settings that, with ``name``, say how the items were made;
the cache manifest records them.

Spec strings (the ``SOURCE`` argument of the command line)::

    synthetic                          built-in synthetic scenes (default); options n, seed, size, ...
    coco:PATH/instances.json           COCO instances; option images=DIR (default: PATH's folder)
    spatialsense:PATH/annotations.json SpatialSense; options images=DIR, split=..., positives_only=...
    unrel:PATH                         UnRel: a folder with annotations.json (or .mat) and images/,
                                       or the annotation file itself
    gqa:PATH/questions.json            GQA questions; options eval_questions=FILE, role=..., scene_graphs=FILE,
                                       images=DIR
    folder:DIR                         any images, masks from SAM's automatic generator (needs
                                       sam_checkpoint=FILE)

SAM options, for the box-only sources (spatialsense, unrel, gqa) and the folder:
``sam_checkpoint`` (a local file; box-only sources fall back to box-shaped masks without it,
with a warning and ``options()["masks"] == "boxes"``), ``sam_kind`` (``vit_h``, ``vit_l``,
``vit_b``; read from the checkpoint when not given), ``sam_device``, and for the box-only
sources ``sam_masks`` (the store of SAM masks reused by later precomputes; see
:mod:`csip.data.sam`). Options whose value is ``None`` are ignored, so a command line can
pass all its flags through; each adapter lists its options with their meaning in its own
``OPTIONS`` table (:func:`option_table` adds the defaults; ``csip precompute options`` prints
them); an option the chosen source does not take is an error. A spec
without its PATH may name it as an option instead: ``open_source("coco",
annotations=FILE, images=DIR)``, ``open_source("folder", images=DIR, ...)``.

Example::

    >>> from csip.data.source import open_source
    >>> src = open_source("synthetic", n=4, seed=0, size=64)
    >>> len(src), src.load(0).image.shape
    (4, (64, 64, 3))
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .sample import Sample


@runtime_checkable
class Source(Protocol):
    """What every adapter provides; see the module docstring.

    - ``name``: short source name recorded in the manifest (``"synthetic"``, ``"coco"``...).
    - ``len(source)``: number of items (some may still be skipped by ``load``).
    - ``load(i)``: the ``Sample`` of item ``i`` (deterministic: the same ``i`` gives the same
      sample in any process and any order), or ``SkipItem(reason)``.
    - ``options()``: JSON-able dict of the settings that made the items (paths as strings).

    Optional: ``item_id(i)``, the id ``load(i)`` gives its sample, without loading it: the
    manifest then lists the skipped items by id. ``summary()``, a JSON-able dict of what reading
    the annotations gave (GQA: the questions kept and dropped, by file and reason), recorded in
    the manifest (``source.summary``) and printed by ``csip precompute``. ``load_cropped(i)``, the
    same sample cut to the union box of its two objects (exactly
    ``load(i).crop(load(i).union_box())``, see :meth:`Sample.crop`), for sources that can then skip
    converting the rest of the frame. ``csip precompute`` keeps only that window
    and calls it when present; a source whose masks may reach outside their boxes must not
    offer it.

    Sources must pickle cheaply: heavy state (a SAM model) is loaded lazily in each process and
    dropped from the pickle. Such sources may also set ``max_workers`` (an int): ``csip
    precompute`` then starts at most that many loader processes unless told otherwise.
    """

    name: str

    def __len__(self) -> int: ...

    def load(self, i: int) -> Sample: ...

    def options(self) -> dict: ...


#: spec prefix -> (module, class, name of the constructor argument that takes the spec's PATH)
ADAPTERS: dict[str, tuple[str, str, str | None]] = {
    "synthetic": ("csip.data.synthetic", "SyntheticSource", None),
    "coco": ("csip.data.coco", "CocoSource", "annotations"),
    "spatialsense": ("csip.data.spatialsense", "SpatialSenseSource", "annotations"),
    "unrel": ("csip.data.unrel", "UnRelSource", "path"),
    "gqa": ("csip.data.gqa", "GqaSource", "questions"),
    "folder": ("csip.data.folder", "FolderSource", "root"),
}


def parse_spec(spec: str, require_path: bool = True) -> tuple[str, str | None]:
    """Split ``"kind:PATH"`` into ``(kind, PATH)``; ``"synthetic"`` gives ``("synthetic", None)``."""
    spec = (spec or "synthetic").strip()
    kind, sep, path = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in ADAPTERS:
        raise ValueError(f"unknown source {spec!r}: expected one of {', '.join(ADAPTERS)} (as 'kind' or 'kind:PATH')")
    if ADAPTERS[kind][2] is None:
        if path:
            raise ValueError(f"source {kind!r} takes no path (got {spec!r}); pass n=, seed=, size= as options")
        return kind, None
    if not path and require_path:
        raise ValueError(f"source {kind!r} needs a path: '{kind}:PATH'")
    return kind, path or None


def open_source(spec: str = "synthetic", **opts: Any) -> Source:
    """Build the adapter named by ``spec`` (see the module docstring) with keyword ``opts``.

    ``None``-valued options are dropped; unknown ones raise ``TypeError`` naming the accepted
    ones. ``ValueError`` for an unknown kind or a missing path; ``FileNotFoundError`` when the
    annotation file does not exist.
    """
    kind, path = parse_spec(spec, require_path=False)
    path_arg = ADAPTERS[kind][2]
    kwargs = {k: v for k, v in opts.items() if v is not None}
    if path_arg is not None and path is None:
        # "coco" + annotations=FILE (or the adapter's own name for it), "folder" + images=DIR
        aliases = (path_arg, "annotations") + (("images",) if kind == "folder" else ())
        for alias in aliases:
            if alias in kwargs:
                path = str(kwargs.pop(alias))
                break
        else:
            raise ValueError(f"source {kind!r} needs a path: '{kind}:PATH' (or annotations=PATH)")
    cls = adapter_class(kind)
    accepted = [p for p in inspect.signature(cls).parameters if p != path_arg]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(
            f"source {kind!r} does not take option(s) {', '.join(unknown)}; it takes: {', '.join(accepted)}"
        )
    if path_arg is not None:
        kwargs[path_arg] = Path(path).expanduser()
    return cls(**kwargs)


def adapter_class(kind: str) -> type:
    """The adapter class of source ``kind`` (a key of :data:`ADAPTERS`), imported."""
    module_name, class_name, _ = ADAPTERS[kind]
    return getattr(importlib.import_module(module_name), class_name)


def option_table(kind: str) -> list[tuple[str, str, str]]:
    """``(name, default, meaning)`` of every option of source ``kind``, in the constructor's
    order: the meaning from the adapter's own ``OPTIONS`` table, the default from its
    constructor (``"PATH of the spec"`` for the argument the spec's PATH fills, ``"none"`` for
    an option without a value by default). ``ValueError`` for an unknown kind, or when the table
    and the constructor name different options (a table that fell behind its adapter)."""
    if kind not in ADAPTERS:
        raise ValueError(f"unknown source {kind!r}: expected one of {', '.join(ADAPTERS)}")
    cls = adapter_class(kind)
    path_arg = ADAPTERS[kind][2]
    params = inspect.signature(cls).parameters
    table: dict[str, str] = getattr(cls, "OPTIONS", {})
    if set(table) != set(params):
        raise ValueError(f"source {kind!r}: {cls.__name__}.OPTIONS lists {list(table)}, its constructor takes "
                         f"{list(params)}")
    rows = []
    for name, param in params.items():
        if name == path_arg:
            default = "PATH of the spec"
        elif param.default is inspect.Parameter.empty:
            default = "required"
        else:
            d = param.default
            default = "none" if d is None else d if isinstance(d, str) else json.dumps(d)
        rows.append((name, default, table[name]))
    return rows


__all__ = ["ADAPTERS", "Source", "adapter_class", "open_source", "option_table", "parse_spec"]
