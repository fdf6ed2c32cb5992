"""Write the raw MES tables of a DuckDB file as Parquet, the layout the dbt `spark` target reads.

``write_raw_parquet(path, parquet_dir)`` copies each of the four raw tables to
``parquet_dir/<table>/data.parquet`` (the folder is emptied first, so a re-run never leaves an older
file beside the new one for Spark to read too). Columns and types stay as in the raw layout: text as
Parquet strings, ``_extracted_at`` as a timestamp without time zone (microseconds, UTC by convention).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from exporter.warehouse import connect, scalar
from mo_export_dev.sample_data.generator import check_schema_name

log = logging.getLogger(__name__)

#: The raw tables, in the names the dbt source `mes` gives them.
RAW_TABLES = ("mes_production_orders", "mes_confirmations", "mes_materials", "mes_plants")


def write_raw_parquet(path: str | Path, parquet_dir: str | Path, *, raw_schema: str = "raw") -> dict[str, int]:
    """Copy ``raw_schema``'s raw tables of the DuckDB file at ``path`` to Parquet; return rows per table."""
    schema = check_schema_name(raw_schema)
    parquet_dir = Path(parquet_dir)
    if parquet_dir.exists() and not parquet_dir.is_dir():
        raise ValueError(f"--parquet-dir {parquet_dir} is a file, not a directory")
    if "'" in str(parquet_dir.resolve()):
        raise ValueError(f"--parquet-dir {parquet_dir}: a path with a single quote cannot be used in SQL")
    rows: dict[str, int] = {}
    con = connect(path, read_only=True)
    try:
        for table in RAW_TABLES:
            folder = parquet_dir / table
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            target = (folder / "data.parquet").resolve()
            con.execute(f"copy (select * from \"{schema}\".{table}) to '{target}' (format parquet)")
            rows[table] = int(scalar(con, f"select count(*) from \"{schema}\".{table}"))
    finally:
        con.close()
    log.info("raw tables written as Parquet", extra={"event": "raw_parquet_written", "dir": str(parquet_dir)})
    return rows
