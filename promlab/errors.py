"""Exceptions promlab raises, each named for what went wrong."""


class StackError(RuntimeError):
    """The stack could not do what was asked; the message says why and what to try."""


class BinaryNotFoundError(FileNotFoundError):
    """A program the stack needs is not installed where promlab looked."""


class PortInUseError(OSError):
    """A port the stack wants to bind is already taken by another process."""


class ServiceNotReadyError(TimeoutError):
    """A service did not become ready before its deadline, or exited while starting."""

    def __init__(self, message: str, service: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.service = service
        self.log_tail = log_tail
