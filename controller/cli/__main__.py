"""``python -m hookbus.controller.cli``: the same as the ``hookbus`` command."""

import sys

from hookbus.controller.cli import main

sys.exit(main())
