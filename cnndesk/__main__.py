"""``python -m cnndesk`` is the ``cnndesk`` command."""

import sys

from cnndesk.cli import main

sys.exit(main())
