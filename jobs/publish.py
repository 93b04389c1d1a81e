"""spark-submit entry point: publish the new versions of the gold tables. See `python jobs/publish.py --help`."""

import sys

from lakehouse.jobs import PUBLISH, main

if __name__ == "__main__":
    sys.exit(main(PUBLISH, sys.argv[1:]))
