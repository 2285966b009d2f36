"""``python -m harness.cli``: the ``annsweep`` command."""

import sys

from harness.cli.entry import main

sys.exit(main())
