"""`python -m exporter` runs the `mo-export` command line."""

from exporter.cli import main

main()
