"""``python -m ghcrawl.fakehub``: the same as the ghcrawl-fakehub script."""

import sys

from ghcrawl.fakehub.cli import main

sys.exit(main())
