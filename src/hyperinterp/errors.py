"""One exception type for problems the user can fix; the CLI prints it on one line, exit 2."""


class UserError(Exception):
    """Bad input: unknown names, out-of-range numbers, unreadable or corrupt files."""
