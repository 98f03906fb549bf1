"""``python -m dabench`` is the ``dabench`` command."""

import sys

from dabench.cli import main

sys.exit(main())
