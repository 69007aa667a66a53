"""The domain's errors, as every surface answers them."""


class NotAllowed(Exception):
    """The person may not do this (answered with 403)."""


class InvalidInput(ValueError):
    """Input that breaks a rule of the domain (answered with 422); `field` names the input
    at fault, so that a form can show the message beside it."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class Conflict(Exception):
    """The thing is not in a state that allows this (answered with 409)."""
