"""What every layer uses: typed bad-input errors (:mod:`~csip.base.errors`), option checks
(:mod:`~csip.base.checks`), settings fingerprints (:mod:`~csip.base.fingerprint`), atomic
files and strict JSON (:mod:`~csip.base.files`), weight files read without unpickling
(:mod:`~csip.base.weights_io`), signals and preemption (:mod:`~csip.base.preemption`), worker
processes that die with their parent (:mod:`~csip.base.orphans`), torchrun
(:mod:`~csip.base.distributed`) and lazily imported package attributes
(:mod:`~csip.base.lazy`).

Nothing here imports a layer above it; this package imports nothing itself.
"""
