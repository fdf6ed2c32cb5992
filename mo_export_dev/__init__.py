"""Development tools of the repository, not part of the ``mo-export`` product (its wheel holds only ``exporter``).

* :mod:`mo_export_dev.sandbox`: a local, Peak-compatible ingestion API (Starlette on uvicorn) for the demo, the
  tests, the chaos run and the benchmarks; ``python -m mo_export_dev.sandbox`` (docs/sandbox.md). It imports
  nothing of the exporter, so it stays a second, independent reading of the API.
* :mod:`mo_export_dev.sample_data`: the deterministic raw-data generator; ``python -m mo_export_dev.sample_data``
  (docs/sample-data.md). It writes through the exporter's DuckDB opener (:mod:`exporter.warehouse`): the
  development tools may use the product, the product never imports them.

Their web-server dependencies are the ``sandbox`` dependency group of pyproject.toml, which ``make install``
installs.
"""
