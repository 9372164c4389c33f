"""Parsing `-q` tokens into a small tree.

    expr    := and ("or" and)*
    and     := unary ("and" unary)*
    unary   := "not" unary | "(" expr ")" | FIELD OP VALUE
    VALUE   := string | number | duration | identifier | keyword
"""

from __future__ import annotations

from dataclasses import dataclass

from sonalyze.errors import QueryError
from sonalyze.query.lexer import Token, tokenize

COMPARISONS = ("=", "<", "<=", ">", ">=", "=~")


@dataclass(frozen=True)
class Compare:
    """`field op value`."""

    field: str
    op: str
    value: str


@dataclass(frozen=True)
class Logical:
    """`and`/`or` of two subtrees."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    """Negation."""

    inner: Node


Node = Compare | Logical | Not


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def error(self) -> QueryError:
        return QueryError(f"Can't parse query {self.text!r}: syntax error")

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise self.error()
        self.i += 1
        return tok

    def is_kw(self, word: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "keyword" and tok.text == word

    def expr(self) -> Node:
        node = self.conj()
        while self.is_kw("or"):
            self.take()
            node = Logical("or", node, self.conj())
        return node

    def conj(self) -> Node:
        node = self.unary()
        while self.is_kw("and"):
            self.take()
            node = Logical("and", node, self.unary())
        return node

    def unary(self) -> Node:
        if self.is_kw("not"):
            self.take()
            return Not(self.unary())
        tok = self.take()
        if tok.kind == "op" and tok.text == "(":
            node = self.expr()
            close = self.take()
            if close.kind != "op" or close.text != ")":
                raise self.error()
            return node
        if tok.kind != "ident":
            raise self.error()
        op = self.take()
        if op.kind != "op" or op.text not in COMPARISONS:
            raise self.error()
        value = self.take()
        if value.kind == "op":
            raise self.error()
        return Compare(tok.text, op.text, value.text)


def parse_query(text: str) -> Node:
    """The tree for a query string; a syntax error is a QueryError."""
    p = _Parser(text)
    if not p.tokens:
        raise QueryError("Can't parse query: it is empty")
    node = p.expr()
    if p.peek() is not None:
        raise p.error()
    return node
