"""Record filters shared by verbs: users, jobs, commands, as Polars predicates."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class RecordFilter:
    """`-u`, `--exclude-user`, `-j`, `--exclude-job`, `--command`, `--exclude-command`.

    Empty tuples mean "no constraint"; `users=None` means all users.
    """

    users: tuple[str, ...] | None = None
    exclude_users: tuple[str, ...] = ()
    jobs: tuple[int, ...] = ()
    exclude_jobs: tuple[int, ...] = ()
    commands: tuple[str, ...] = ()
    exclude_commands: tuple[str, ...] = ()

    def predicate(self, user: str = "user", job: str = "job", cmd: str = "cmd") -> pl.Expr:
        """True for records that pass every filter."""
        keep = pl.lit(True)
        if self.users is not None:
            keep &= pl.col(user).is_in(list(self.users))
        if self.exclude_users:
            keep &= ~pl.col(user).is_in(list(self.exclude_users))
        if self.jobs:
            keep &= pl.col(job).is_in(list(self.jobs))
        if self.exclude_jobs:
            keep &= ~pl.col(job).is_in(list(self.exclude_jobs))
        if self.commands:
            keep &= pl.col(cmd).is_in(list(self.commands))
        if self.exclude_commands:
            keep &= ~pl.col(cmd).is_in(list(self.exclude_commands))
        return keep
