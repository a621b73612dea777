"""Every error of `platformctl` ends the same way: one line on stderr and a non-zero exit.

The root command's group catches what any command raises (platform errors, unreachable services,
files that cannot be written, invalid settings, usage mistakes) and prints one line; the traceback
is logged at DEBUG level only (`LOG_LEVEL=DEBUG platformctl ...` shows it).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import psycopg
import sqlalchemy.exc
import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from rich.text import Text
from sqlalchemy.engine import make_url
from typer import _click as click
from typer.core import TyperGroup

from platform_core.cli.common import err_console
from platform_core.kernel.errors import AppError

logger = logging.getLogger("platform.cli")


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _database_url() -> str:
    """The configured database URL without its password."""
    from platform_core.kernel.settings import get_settings

    try:
        url = get_settings().database_url
    except ValidationError:
        url = os.environ.get("DATABASE_URL", "")
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return "(unparsable DATABASE_URL)"


def _env_prefix(model_name: str) -> str:
    """The environment prefix of the settings class of that name (S3_ for S3Settings, ...)."""
    pending: list[type[BaseSettings]] = [BaseSettings]
    while pending:
        cls = pending.pop()
        if cls.__name__ == model_name:
            return str(cls.model_config.get("env_prefix", ""))
        pending.extend(cls.__subclasses__())
    return ""


def _settings_errors(exc: ValidationError) -> str:
    prefix = _env_prefix(exc.title).upper()
    parts = []
    for error in exc.errors():
        where = "_".join(str(part) for part in error["loc"]).upper()
        parts.append(f"{prefix}{where}: {error['msg']}" if where else error["msg"])
    return f"invalid settings: {'; '.join(parts)}"


def describe(exc: BaseException) -> str:
    """Describe an error in one line that names no secret."""
    if isinstance(exc, AppError):
        return exc.message
    if isinstance(exc, sqlalchemy.exc.DBAPIError | psycopg.Error):
        original = exc.orig if isinstance(exc, sqlalchemy.exc.DBAPIError) else exc
        from platform_core.cli import dev_env

        hint = " (from .dev/env: is `make dev` running?)" if dev_env.supplied("DATABASE_URL") else ""
        return f"database {_database_url()}: {_first_line(str(original))}{hint}"
    if isinstance(exc, ValidationError):
        return _settings_errors(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return f"{type(exc).__name__}: {_first_line(str(exc))}"


def print_error(message: str, code: str | None = None) -> None:
    """Print `error: message` as one line on stderr (never wrapped, never read as markup)."""
    label = "error" if code is None else f"error ({code})"
    err_console.print(Text.assemble((label, "red"), ": ", message), soft_wrap=True)


class OneLineErrors(TyperGroup):
    """The root command group: whatever a command raises becomes one line on stderr and exit 1."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; in standalone mode, exit with its code after reporting any error."""
        if not standalone_mode:
            return super().main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        try:
            result = super().main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.exceptions.UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            print_error(exc.format_message() + where)
            sys.exit(exc.exit_code)
        except click.exceptions.ClickException as exc:
            print_error(exc.format_message())
            sys.exit(exc.exit_code)
        except typer.Abort:
            print_error("aborted")
            sys.exit(1)
        except Exception as exc:
            logger.debug("command failed", exc_info=True)
            if isinstance(exc, AppError):
                print_error(exc.message, code=exc.code)
            else:
                print_error(describe(exc))
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)
