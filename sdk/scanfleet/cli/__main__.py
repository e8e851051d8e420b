import sys

from scanfleet.cli import main

sys.exit(main())
