"""``python -m multitask`` is the ``multitask`` command."""

import sys

from multitask.cli import main

sys.exit(main())
