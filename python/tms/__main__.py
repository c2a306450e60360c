"""`python -m tms ...` is the `tms` command."""
import sys

from .cli import main

sys.exit(main())
