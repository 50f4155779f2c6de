"""`python -m mlops.training`: see mlops.training.entrypoint for the contract."""

from mlops.training.entrypoint import main

raise SystemExit(main())
