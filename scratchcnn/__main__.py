"""`python -m scratchcnn ...` is the same as the `scratchcnn` console script."""

from .cli import main

raise SystemExit(main())
