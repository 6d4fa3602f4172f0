"""``python -m edged``."""

import sys

from edged.cli import main

if __name__ == "__main__":
    sys.exit(main())
