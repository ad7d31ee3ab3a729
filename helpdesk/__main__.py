"""``python -m helpdesk``."""

from helpdesk.cli import main

main()
