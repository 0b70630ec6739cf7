"""``python -m consortium`` is the ``consortium`` command."""

import sys

from consortium.cli import main

sys.exit(main())
