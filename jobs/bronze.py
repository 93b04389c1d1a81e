"""spark-submit entry point: land raw files into bronze. See `python jobs/bronze.py --help`."""

import sys

from lakehouse.jobs import main

if __name__ == "__main__":
    sys.exit(main("bronze", sys.argv[1:]))
