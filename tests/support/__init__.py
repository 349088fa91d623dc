"""Test-only helpers, outside the installed package: the starter code's metrics (the oracle and the benchmark's
anchor), tiny Inception archives, a local Dask cluster, a private MongoDB, download settings and index videos.

Imported as ``tests.support.<module>`` by the tests (pytest's ``pythonpath`` holds the repository root) and by the
benchmarks (``bench/`` scripts put the repository root on ``sys.path``).
"""
