"""``python -m core.cli``: the same entry point as the ``verity`` script."""

from core.cli import main

main()
