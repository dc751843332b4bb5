"""``python -m runwright`` is the ``runwright`` command, for when the script is not on PATH."""

from runwright.cli.entry import main

main()
