"""`.dev/env`: where `platformctl dev` writes the URLs of the services it started.

Every other `platformctl` command reads the file for the variables that are not set, so a second
terminal reaches the `make dev` stack without exporting anything. Only in development: with `ENV`
set to anything else (the tests, production) the file is ignored.
"""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import dotenv_values

from platform_core.kernel.settings import PROJECT_ROOT, get_settings

ROOT_VARIABLE = "DEV_ROOT"  # where `platformctl dev` keeps its data; `.dev` of the checkout by default
HEADER = (
    "# Written by `platformctl dev` at each start: the services it runs. Other platformctl commands\n"
    "# read it for the variables that are not set; `set -a; . .dev/env; set +a` loads it into a shell.\n"
)
_supplied: set[str] = set()


def default_root() -> Path:
    """Where `platformctl dev` keeps its data: $DEV_ROOT, else `.dev` in the checkout."""
    return Path(os.environ.get(ROOT_VARIABLE) or PROJECT_ROOT / ".dev")


def env_path(root: Path) -> Path:
    """The environment file of a dev root."""
    return root / "env"


def read(path: Path) -> dict[str, str]:
    """The variables of an environment file (empty if there is none)."""
    if not path.is_file():
        return {}
    return {key: value for key, value in dotenv_values(path).items() if value is not None}


def write(root: Path, values: dict[str, str]) -> Path:
    """Write the variables to the dev root's environment file (readable by its owner only)."""
    path = env_path(root)
    root.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(HEADER + "".join(f"{key}={value}\n" for key, value in values.items()))
    partial.chmod(0o600)  # holds the local webhook secret
    partial.replace(path)
    return path


def load() -> dict[str, str]:
    """Set the variables of `.dev/env` that are not set yet (development only); return them."""
    if os.environ.get("ENV", "development").strip().lower() != "development":
        return {}
    missing = {k: v for k, v in read(env_path(default_root())).items() if k not in os.environ}
    os.environ.update(missing)
    _supplied.update(missing)
    if missing:
        _forget_settings()
    return missing


def _forget_settings() -> None:
    """Drop every cached settings object, so the next read sees the variables just set."""
    from billing.settings import get_billing_settings
    from platform_core.uploads.settings import get_s3_settings
    from workers.email.settings import get_email_settings
    from workers.settings import get_celery_settings, get_outbox_settings

    for cached in (
        get_settings,
        get_s3_settings,
        get_billing_settings,
        get_celery_settings,
        get_outbox_settings,
        get_email_settings,
    ):
        cached.cache_clear()


def supplied(name: str) -> bool:
    """Whether this variable came from `.dev/env` rather than from the environment."""
    return name in _supplied
