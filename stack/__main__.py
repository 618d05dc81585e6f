"""python -m stack: run the whole system locally (see stack/run.py)."""
import sys

from stack.run import main

sys.exit(main())
