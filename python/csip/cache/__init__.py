"""The csip cache: one directory of pre-resized images, symmetric Force Banners and boxes.

``csip precompute`` writes it (:mod:`csip.cache.writer`), :class:`Cache` and
:class:`CacheDataset` read it. Everything is a plain ``.npy`` (read with
``np.load(path, mmap_mode="r", allow_pickle=False)``; nothing is ever pickled), JSON or JSONL.

Layout of a finished cache (``N`` items, image size ``S``, banner ``R × K``)::

    DIR/
      manifest.json    written last (atomically): the cache exists iff this file does
      sfb.npy          float32 (N, R, K)   symmetric Force Banners, rows = force levels r,
                                           columns = angles θ_k = k·π/K; normalised as
                                           manifest.descriptor.normalize says ("max": each row
                                           divided by its max over θ; "none": raw)
      images.npy       uint8 (N, 3, S, S)  RGB, channels first: the image cropped to the union
                                           box of the two objects' boxes, padded to a centred
                                           square with 0 (black), resized to S (bilinear)
      boxes.npy        float32 (N, 2, 4)   A then B, (x0, y0, x1, y1) in that square frame, / S
      masks.npy        uint8 (N, 2, S, ⌈S/8⌉)  A and B in the square frame, resized by area
                                           coverage (csip_core.resize_mask), then
                                           np.packbits along the last axis
                                           (np.unpackbits(m, axis=-1, count=S))
      labels.npy       int64 (N,)          index into csip.data.PREDICATES; -1 unknown
      split.npy        int8 (N,)           0 train / 1 val / 2 test: the source's split when it
                                           gives one, else sha256(id) % 100 <80 / <90 / rest
      ids.json         [N strings]         the source's item ids
      questions.jsonl  {"index": i, "text": ..., "answer": true|false} per line (i: item position)

``manifest.json``::

    format "csip-cache", format_version (1), csip_version, created (UTC, ISO 8601)
    source       {spec, name, options}
    descriptor   {forces [R floats], n_angles K, normalize, csip_core_version, shape [R, K]}
    image_size   S;  image {crop, pad, resize, layout} in words
    counts       {items N, source_items, skipped, splits {train, val, test}, labelled, questions,
                  masks {annotated | sam | boxes | sam-auto | exact: items} (Sample.mask_source)}
    skipped      {reasons {reason: count}, items [{index (in the source), id (the source's id of
                  the item, when it says), reason, message (what it was about: the file, ...)}
                  ... ≤ 1000], items_truncated}
    has_labels, has_questions, split_rule
    files        {name: {sha256, bytes(, shape, dtype)}} for every file above
    content_hash sha256 over "name:sha256\\n" of every file, sorted by name
    run          {params_hash, params (everything that fixes the content), n_chunks, chunk}
    build        seconds per stage (load, prepare, wait, sfb, write, consolidate, wall)
    manifest_hash  csip.base.fingerprint of every field above: an edited manifest field is refused
                   on opening, and so is a deleted manifest_hash (caches created before
                   2026-11-27T14:30:39Z, when csip started writing it, have none and stay readable)

Items keep the source's order; skipped items (``SkipItem(reason)`` from the source, or any
other exception, counted as ``"error: <ExceptionType>"`` with its message) leave no gap.

While it is being built, the directory also holds ``run.json`` (the run's parameters) and
``chunks/chunk-NNNNNN/`` (one per ``chunk`` source items: the same arrays for those items, plus
``index.npy`` (their source indices) and ``chunk.json`` with sha256 sums), and, for shards,
``shard-I-of-N.json``. Chunks are written to ``chunks/.tmp-*`` and renamed when complete, so a
killed run loses at most the chunks in flight; rerunning the same command resumes it. Once the
final files are written the chunks are removed (``--keep-chunks`` keeps them).

Building (``csip precompute``, :func:`csip.cache.writer.build`): chunks of ``--chunk`` source
items are handled by ``--workers`` processes (default: one per usable core), each doing all the
work of its batch of items (decode, masks, crop, pad, resize, then the banners in one
``csip_core.sfb_batch`` call on its own thread); the main process writes each chunk atomically
and appends it, in chunk order, to the final arrays, which therefore grow during the run (in
``.consolidate-tmp-<host>-<pid>/``, each ``.npy`` header sized for the run's item count and
rewritten with the real one at the end, padded to the same length).
A run killed at any moment (even SIGKILL) resumes where it stopped when the same command is
rerun; a rerun with other parameters is refused, listing the differences. Finished chunks are
verified (sha256) before reuse; damaged ones are recomputed. A loader process that dies (native
crash, out of memory) costs only the item that killed it (``"error: loader process died"``).
``--shard i/n`` (or ``RANK``/``WORLD_SIZE`` from torchrun) computes the chunks ``c`` with
``c % n == i``; ``csip precompute merge DIR... --out DIR`` checks that the shards agree on every
parameter and hold every chunk, and writes the final cache. If no item at all is usable, the run
fails (exit code 2) with the reason counts, and writes no manifest.

Reading: :class:`Cache` (and so :class:`CacheDataset`) checks, before anything is read from it,
each file's size and header against the manifest, then every file's sha256 and the values of
the banners, boxes, labels and splits (:mod:`csip.cache.validate`), once per exact set of files
(a stamp keyed on their path, size, mtime, ctime and inode; the writer stamps what it writes).
Any failure is a :class:`CacheError` naming the file.

::

    >>> from csip.cache import Cache, CacheDataset         # doctest: +SKIP
    >>> c = Cache("runs/cache"); c.sfb.shape, c.normalize   # doctest: +SKIP
    ((1000, 57, 180), 'max')
    >>> ds = CacheDataset("runs/cache", split="train"); ds[0]["image"].shape  # doctest: +SKIP
    torch.Size([3, 224, 224])

Training reads whole batches instead (:func:`batches`, :class:`BatchReader` in
:mod:`csip.cache.batches`: one ``np.take`` per array into pinned buffers, background threads,
flips on the device), batch for batch what a ``DataLoader`` over ``CacheDataset`` gives::

    >>> for b in batches("runs/cache", "train", batch_size=256, seed=0, epoch=0, device="cuda"):  # doctest: +SKIP
    ...     b["image"].shape                        # torch.Size([256, 3, 224, 224]), on the GPU, flipped
"""

from __future__ import annotations

from ..base.lazy import lazy_exports
from .batches import BatchReader, batches  # (imports torch only when used)
from .format import FORMAT_NAME, FORMAT_VERSION, SPLIT_NAMES, SPLITS, CacheError, ParamsMismatch
from .reader import Cache

# imported on use: torch and the writer stay unimported until needed
__getattr__ = lazy_exports(__name__, {"CacheDataset": "dataset", "build": "writer", "resolve_source": "writer",
                                      "merge": "assemble", "consolidate": "assemble"})


__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SPLITS",
    "SPLIT_NAMES",
    "BatchReader",
    "Cache",
    "CacheDataset",
    "CacheError",
    "ParamsMismatch",
    "batches",
    "build",
    "consolidate",
    "merge",
    "resolve_source",
]
