"""The command line: Typer commands over the library, and the one error handler."""
