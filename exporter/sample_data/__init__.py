"""Deterministic sample raw MES data (placeholder docstring, see below)."""

from exporter.sample_data.generator import generate
from exporter.sample_data.summary import SampleDataSummary

__all__ = ["SampleDataSummary", "generate"]
