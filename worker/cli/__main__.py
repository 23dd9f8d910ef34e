"""`python -m newsworker.worker.cli`: the `newsworker` command."""

from newsworker.worker.cli import main

main()
