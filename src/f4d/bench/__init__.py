"""f4d.bench: model, 4D-op and data-loading benchmarks with shared timing helpers.

``f4d.bench.model`` (videos/s, memory, FLOPs of registered models), ``f4d.bench.ops``
(`Conv4d` / `Factorized4d` against the naive loop), ``f4d.bench.data`` (the loading pipeline),
``f4d.bench.timing`` (synchronised median timings, peak memory, machine facts) and
``f4d.bench.report`` (rich and markdown tables). Import the submodule you need.
"""
