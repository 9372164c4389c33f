"""The one error hierarchy: library code raises these, only the CLI prints them."""


class SonalyzeError(Exception):
    """A failure the user can do something about; the CLI exits with status 1."""

    exit_code = 1


class UsageError(SonalyzeError):
    """A bad command line: unknown option value, bad field name, bad date; exit 2."""

    exit_code = 2


class DataSourceError(SonalyzeError):
    """The data directory, config file or an input file cannot be found or read."""


class ConfigError(SonalyzeError):
    """A cluster configuration or alias file is malformed."""


class QueryError(UsageError):
    """A `-q` expression that cannot be parsed or does not fit the output's fields."""
