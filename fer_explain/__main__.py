"""``python -m fer_explain`` runs the ``fer-explain`` command line (:func:`fer_explain.cli.main`)."""

import sys

from fer_explain.cli import main

if __name__ == "__main__":
    sys.exit(main())
