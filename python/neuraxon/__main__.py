"""`python -m neuraxon ...` is the `neuraxon` command."""

import sys

from .cli import main

sys.exit(main())
