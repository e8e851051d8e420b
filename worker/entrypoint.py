"""The AWS Batch container's entrypoint: one trial, then an exit code for the retry
strategy. All the logic is in ``scanfleet.runtime.batch``; see docs/worker.md."""

import sys

from scanfleet.runtime.batch import main

if __name__ == "__main__":
    sys.exit(main())
