"""Deterministic, realistic raw MES data for development, tests and benchmarks.

``generate(path, orders=N, seed=S, raw_schema="raw")`` (re)writes the four raw tables
(docs/behaviour.md#raw-tables) in the DuckDB file at ``path`` (exact column names; all VARCHAR except
``_extracted_at`` TIMESTAMP) and returns a :class:`SampleDataSummary`. It is all DuckDB SQL over
``range()``: every choice is drawn from
``hash(seed, row id, purpose)``, never ``random()``, so the same (N, S) gives the same table contents
whatever the thread count, and another seed gives other data. 1,000,000 orders (2.85 M order rows,
2.94 M confirmation rows, a 243 MB file) take about 27 CPU-seconds and under 1 GB peak RSS
(``bench/bench_sample_data.py`` prints wall time and rows/s).

What is generated (all shares live in :mod:`mo_export_dev.sample_data.mix`):

* Plants: a fixed list of 11 with 1-2 extracted versions each: 6 factories (69 production lines), a plant
  that stopped being a factory, distribution centres, a warehouse, a head office with no flag;
  ``is_factory`` spelled 'Y', 'true', ' yes ', '1', 't', '0', 'N', 'false', ... Plus 2 rows without a code.
* Materials: N // 100 clamped to 200..5000 codes ``MAT-000001``.., 1-3 versions each (description
  revisions), plus 3 rows without a code. Orders pick materials with a skew (popular products).
* Orders (``000001000000``..): final status CRTD 8 %, REL 17 %, PCNF 25 %, CNF 30 %, TECO 15 %, DLT 5 %,
  reached through one extracted version per status change (CRTD -> REL -> PCNF -> CNF -> TECO, or
  -> DLT; half the orders skip the CRTD version), each with a later ``changed_ts`` and ``_extracted_at``.
  Status codes in upper, lower and capitalised case; 0.2 % of good orders end with a blank status.
* Confirmations: PCNF orders 1-4, CNF/TECO orders 3-7 (the last one final, except for 20 % of TECO
  orders), about 3 per order overall; 4 % scrap-only postings (yield 0, scrap > 0), 3 % reversed by a
  later posting with the negative yield under its own id; 4 % delivered twice with the same
  ``_extracted_at`` and 4 % redelivered a day or two later (same text). ``is_final`` in many spellings.
* Text forms: quantities as '500', '500.0', '+500', '500.00', '+500.000'; every timestamp column mixes
  'YYYY-MM-DD HH:MM:SS' (40 %), a date alone (3 %, only where midnight cannot break a rule), 'T' or space,
  fractional seconds of 1, 2, 3, 6 or 9 digits, and zones Z, +HH:MM, -HH:MM, +HHMM, -HHMM (offsets up to
  23:59, written as local time so the instant is unchanged); 4 % of values carry surrounding spaces,
  tabs or newlines.
* Bad orders: 1.5 % of orders (at least one per rejection code from 1000 orders) each break exactly one
  rule of docs/behaviour.md#rejection-codes. Bad order j hits code j % 11, with that code's variants in
  turn (each required column missing, including blank strings and order rows without order_no; near-miss
  timestamps on order columns and on confirmed_ts; '500.5', '0', '-3', 'abc', '1e3', '1,000' quantities; missing or
  fractional yields; negative produced sums; swapped planned dates; a back-dated final reversal;
  unknown product/plant codes, including case variants; non-factory plants; unknown status codes).
  The corruption is applied to the order's latest version (or its first/final confirmation), so earlier
  versions look fine. They are listed in ``sample_data.planted_bad_orders`` (raw_schema, order_no,
  order_no_in_raw, rejection_code, variant): the expected content of the rejected model.
* Orphans: 0.1 % (at least 3 from 1000 orders) of confirmations are posted against order numbers
  (``000009...``) that were never extracted.

``simulate_next_extraction(path, changed_orders=K, seed=S)`` appends one later extraction moving K good
orders one status forward (with a new confirmation where the status needs one) and returns their order
numbers: exactly those orders' contract rows change, and they stay valid.
"""

from mo_export_dev.sample_data.generator import generate
from mo_export_dev.sample_data.next_extraction import simulate_next_extraction
from mo_export_dev.sample_data.summary import SampleDataSummary

__all__ = ["SampleDataSummary", "generate", "simulate_next_extraction"]
