"""The one output engine: field declarations, `--fmt` parsing, value formatting
and the fixed/csv/csvnamed/json/awk renderers, shared by every verb."""
