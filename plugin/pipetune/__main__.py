"""``python -m pipetune`` is the ``pipetune`` command."""

from pipetune.cli import main

raise SystemExit(main())
