"""The baseline a user would write in twenty lines: fetch everything, json.dumps, one request at a time.

Kept plain on purpose (no batching by bytes, no retries, no state); the benchmark compares the exporter
with it on the same data and the same sandbox.
"""

import json
import os
import sys

import duckdb
import httpx

con = duckdb.connect(os.environ["MO_DUCKDB_PATH"], read_only=True)
cursor = con.execute("select * from main.peak_manufacturing_orders")
columns = [d[0] for d in cursor.description]
rows = cursor.fetchall()
url = os.environ["PEAK_BASE_URL"] + "/api/v2/ingest/object/INV_MANUFACTURING_ORDERS_OOTB"
headers = {"Authorization": os.environ["PEAK_API_KEY"], "Content-Type": "application/json"}
with httpx.Client(timeout=60) as client:
    for start in range(0, len(rows), 500):
        data = [dict(zip(columns, row, strict=True)) for row in rows[start : start + 500]]
        body = json.dumps({"solutionName": "INV_OOTB", "data": data, "operationType": "UPSERT"}, default=str)
        response = client.post(url, content=body, headers=headers)
        response.raise_for_status()
print(f"sent {len(rows)} rows", file=sys.stderr)
