"""`python -m osspolicy`."""

from osspolicy.cli import main

main()
