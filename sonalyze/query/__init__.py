"""The `-q` query language: lexer, parser, and compilation to a Polars predicate."""

from sonalyze.query.compile import compile_query

__all__ = ["compile_query"]
