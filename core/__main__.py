"""`python -m core …`: the command line (core/cli/main.py)."""
import sys

from core.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
