"""Deliver MES manufacturing orders, shaped by dbt, to the Peak ingestion API."""
