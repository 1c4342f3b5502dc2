"""Dramatiq worker entry point: the same as ``bpo worker [MODULES…] [--processes N] [--threads N]``."""

import sys

from bpo.cli.main import app

if __name__ == "__main__":
    app(["worker", *sys.argv[1:]], prog_name="bpo")
