"""``python -m fer_explain`` runs the ``fer-explain`` command line."""

import sys

from fer_explain.cli import main

sys.exit(main())
