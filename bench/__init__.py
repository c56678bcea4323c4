"""Benchmarks, each a module run from the repository root as `python -m bench.NAME`.

Every bench prints its figures beside a baseline measured in the same run and ends with
one JSON line; the results study (`bench.results`, its page drawn by `bench.results_report`)
writes docs/RESULTS.md and its committed record docs/results/results.json.
"""
