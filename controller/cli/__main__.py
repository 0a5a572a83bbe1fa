"""``python -m hookbus.controller.cli``: the same as the ``hookbus`` command."""

import sys

from . import main

sys.exit(main())
