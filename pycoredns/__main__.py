"""``python -m pycoredns``."""

import sys

from pycoredns.cli import main

sys.exit(main())
