"""``python -m fer_explain.cli`` runs the ``fer-explain`` command line, as ``python -m fer_explain`` does."""

import sys

from fer_explain.cli import main

if __name__ == "__main__":
    sys.exit(main())
