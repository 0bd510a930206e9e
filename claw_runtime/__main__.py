"""``python -m claw_runtime`` is the ``claw`` command."""

import sys

from claw_runtime.cli.main import main

sys.exit(main())
