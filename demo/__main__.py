"""`python -m demo` (what `make demo` runs): the whole flow on the bundled inputs, with no services."""

import argparse
import sys
from pathlib import Path

from demo.run import run_demo

parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
parser.add_argument("--home", type=Path, default=None, help="TSUNAGU_HOME for the demo (default ./var/demo)")
parser.add_argument("--out", type=Path, default=None, help="mail and ledger of the cycle walk (default ./out)")
args = parser.parse_args()
sys.exit(run_demo(home=args.home, out=args.out))
