"""Periodic scheduler entry point: the same as ``bpo scheduler``."""

import sys

from bpo.cli.main import app

if __name__ == "__main__":
    app(["scheduler", *sys.argv[1:]], prog_name="bpo")
