"""`python -m mlops.training`: see mlops.training.entrypoint for the contract."""

import os
import sys

from mlops.training.entrypoint import main

code = main()
sys.stdout.flush()
sys.stderr.flush()
# Every output file is written and closed by now; skipping the interpreter's teardown of scikit-learn, numpy
# and matplotlib saves a noticeable share of a short training job's wall time.
os._exit(code)
