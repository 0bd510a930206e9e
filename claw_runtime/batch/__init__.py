"""Batch runs: one session per line of a JSON-lines file (``claw batch``).

The pieces, one job each:

* :mod:`~claw_runtime.batch.tasks`: what a line may say, read leniently; a line
  that cannot be read becomes a failed result, never a crash.
* :mod:`~claw_runtime.batch.results`: the results file, appended and made
  durable one line at a time, and what an earlier run already finished.
* :mod:`~claw_runtime.batch.runner`: one task as one session on a runtime.
* :mod:`~claw_runtime.batch.local`: many tasks in this process, a bounded number at once.
* :mod:`~claw_runtime.batch.ray_executor`: many tasks on a Ray cluster, each worker
  running its session with ``trio.run`` (Ray is imported only here).

See ``docs/batch.md``.
"""
