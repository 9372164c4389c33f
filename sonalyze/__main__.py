"""Lets `python -m sonalyze` run the command line."""

from sonalyze.cli.main import main

main()
