"""One error family for problems a person can act on.

Pages catch `CtopenError` and show its message with `st.error`; the CLI prints it as one
line on stderr and exits 2. Any other exception is a bug and must surface.
Messages are written for a data officer: what happened, and what to do.
"""


class CtopenError(Exception):
    """A problem with the user's input or environment, explained in one sentence."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # one line, always
        return " ".join(str(self.message).split())


class LoadError(CtopenError):
    """The file could not be read as a table."""


class LimitError(LoadError):
    """The file is over a size, row or decompression limit."""


class RecipeError(CtopenError):
    """A recipe is malformed or does not fit the file."""


class ConfigError(CtopenError):
    """A setting, key or credential is missing or invalid."""


class PublishError(CtopenError):
    """Publishing to the portal failed; nothing was made public."""


class GateBlocked(CtopenError):
    """The privacy gate does not allow this release."""

    exit_code = 3


class InventoryError(CtopenError):
    """The data inventory could not be read."""
