"""The command line's one error boundary: any failure becomes one line a person can act on.

Bad input and services that are down end here as one line on stderr naming the file, option or
variable, and a non-zero exit. The traceback (redacted) is shown only with `--debug` or
NEWSWORKER_LOG_LEVEL=debug. Light on purpose: the root command imports it, so it recognises
database, broker and pipeline errors by the modules that define them, never by importing them.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar

import typer

from newsworker.worker.safe_text import echo, error_line

# Exits, aborts and usage errors: Typer (through its own click) already reports them well.
_TYPER_EXITS = (typer.Exit, typer.Abort, typer.exceptions.TyperException)
_debug: ContextVar[bool] = ContextVar("newsworker_cli_debug", default=False)

_SUBJECT = "newsworker_subject"


class CliError(Exception):
    """A failure already phrased for a person; `code` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message, self.code = message, code


@contextmanager
def about(subject: str) -> Iterator[None]:
    """Name what the block works on (a file, a feed) in any error that escapes it."""
    try:
        yield
    except Exception as e:
        if getattr(e, _SUBJECT, None) is None:
            # A type without a __dict__ keeps its own message.
            with suppress(AttributeError):
                setattr(e, _SUBJECT, subject)
        raise


def debug_wanted() -> bool:
    """True with --debug on the running command or NEWSWORKER_LOG_LEVEL=debug (any case)."""
    level = os.environ.get("NEWSWORKER_LOG_LEVEL", "").strip().lower()
    return _debug.get() or level == "debug"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _family(error: BaseException) -> str:
    """Which library an exception comes from, by the modules of its classes."""
    modules = [cls.__module__ for cls in type(error).__mro__]
    for prefix, family in (
        ("sqlalchemy", "database"), ("psycopg", "database"), ("sqlite3", "database"),
        ("kombu", "broker"), ("redis", "broker"), ("amqp", "broker"), ("celery", "broker"),
        ("newsworker.stages", "pipeline"),
    ):  # fmt: skip
        if any(module.startswith(prefix) for module in modules):
            return family
    return ""


def _database_reason(error: BaseException) -> str:
    # SQLAlchemy prefixes the driver's message with its class, "(psycopg.OperationalError) ".
    detail = _first_line(str(getattr(error, "orig", None) or error))
    detail = detail.split(") ", 1)[1] if detail.startswith("(") and ") " in detail else detail
    return f"database error (NEWSWORKER_DATABASE_URL): {detail}"


def _reason(error: BaseException) -> tuple[str, int]:
    """The one-line reason for an error and the exit status."""
    if isinstance(error, CliError):
        return error.message, error.code
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {(error.strerror or str(error)).lower()}", 1
    if isinstance(error, UnicodeDecodeError):
        return f"not UTF-8 text (byte {error.object[error.start]:#04x} at {error.start})", 1
    if isinstance(error, RecursionError):
        return "nested too deeply to read", 1
    if isinstance(error, OverflowError):
        return f"a date or number out of range ({error})", 1
    family = _family(error)
    if family == "database":
        return _database_reason(error), 1
    if family == "broker":
        reason = _first_line(str(error)) or type(error).__name__
        return f"broker or Redis error (NEWSWORKER_BROKER_URL, NEWSWORKER_REDIS_URL): {reason}", 1
    if family == "pipeline" or isinstance(error, (ValueError, LookupError, ConnectionError)):
        return _first_line(str(error)) or type(error).__name__, 1
    detail = _first_line(str(error))
    return f"{type(error).__name__}{': ' if detail else ''}{detail} (--debug shows more)", 1


def describe(error: BaseException) -> tuple[str, int]:
    """One line naming what failed (the subject from `about`, if any) and the exit status."""
    reason, code = _reason(error)
    subject = getattr(error, _SUBJECT, None)
    return (f"{subject}: {reason}" if subject and subject not in reason else reason), code


@contextmanager
def error_boundary(*, debug: bool = False) -> Iterator[None]:
    """Turn any exception from a command into one line on stderr and an exit status."""
    token = _debug.set(debug)
    try:
        yield
    except _TYPER_EXITS:
        raise
    except Exception as e:
        if debug_wanted():
            echo("".join(traceback.format_exception(e)).rstrip("\n"), to_stderr=True)
        message, code = describe(e)
        error_line(f"newsworker: {message}")
        raise typer.Exit(code) from e
    finally:
        _debug.reset(token)
