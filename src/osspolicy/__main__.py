"""`python -m osspolicy`."""

from osspolicy._internal.cli import main

main()
