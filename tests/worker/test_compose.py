"""docker-compose.yml only runs commands the CLI has, and only sets variables Settings reads."""

from __future__ import annotations

from typing import Any

import pytest
import typer
import yaml

# Typer 0.29 vendors click as typer._click: its own Context, Group and exception classes.
from typer._click.exceptions import NoSuchOption, UsageError

from newsworker.config.settings import Settings
from newsworker.worker.cli import app
from tests.support.paths import REPO

ROOT = REPO
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _remaining(ctx: Any) -> list[str]:
    # A group's context keeps the subcommand and its arguments unparsed, split in two lists.
    return [*getattr(ctx, "_protected_args", []), *ctx.args]


def resolve(argv: list[str]) -> list[str]:
    """Parse argv like the real CLI does; return the command path, or raise click errors."""
    command: Any = typer.main.get_command(app)
    ctx = command.make_context("newsworker", list(argv))
    path = ["newsworker"]
    while hasattr(command, "resolve_command"):  # a group: resolve the subcommand like click does
        rest = _remaining(ctx)
        if not rest:
            raise UsageError(f"{' '.join(path)}: no subcommand given")
        name, sub, args = command.resolve_command(ctx, rest)
        assert name is not None and sub is not None
        path.append(name)
        command = sub
        ctx = command.make_context(name, list(args), parent=ctx)
    return path


def _newsworker_invocations() -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for service_name, service in COMPOSE["services"].items():
        command = service.get("command")
        if isinstance(command, list) and command and command[0] == "newsworker":
            found.append((f"{service_name}.command", command[1:]))
        test = (service.get("healthcheck") or {}).get("test")
        if isinstance(test, list) and len(test) > 1 and test[1] == "newsworker":
            found.append((f"{service_name}.healthcheck", test[2:]))
    return found


def _environments() -> list[tuple[str, dict[str, Any]]]:
    envs = [("x-newsworker", COMPOSE["x-newsworker"]["environment"])]
    envs += [(name, s.get("environment") or {}) for name, s in COMPOSE["services"].items()]
    return [(name, env) for name, env in envs if isinstance(env, dict)]


INVOCATIONS = _newsworker_invocations()


def test_the_compose_file_runs_newsworker_commands() -> None:
    where = {name for name, _ in INVOCATIONS}
    assert {"migrate.command", "worker.command", "beat.command", "worker.healthcheck"} <= where


@pytest.mark.parametrize(("where", "argv"), INVOCATIONS, ids=[w for w, _ in INVOCATIONS])
def test_every_compose_command_exists_with_valid_options(where: str, argv: list[str]) -> None:
    path = resolve(argv)
    assert len(path) >= 2, where


def test_the_resolver_rejects_what_the_cli_would_reject() -> None:
    with pytest.raises(UsageError):
        resolve(["no-such-command"])
    with pytest.raises(NoSuchOption):
        resolve(["health", "--no-such-option"])
    with pytest.raises(UsageError):
        resolve(["db", "downgrade"])
    assert resolve(["db", "upgrade"]) == ["newsworker", "db", "upgrade"]


def test_every_newsworker_variable_is_a_setting() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    for where, env in _environments():
        for key in env:
            if key.startswith("NEWSWORKER_"):
                assert key.removeprefix("NEWSWORKER_") in fields, f"{where}: {key} is not a setting"


def test_dockerfile_variables_are_settings_and_it_runs_as_non_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    fields = {name.upper() for name in Settings.model_fields}
    for token in dockerfile.replace("\\\n", " ").split():
        if token.startswith("NEWSWORKER_") and "=" in token:
            assert token.split("=", 1)[0].removeprefix("NEWSWORKER_") in fields, token
    user_lines = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert user_lines and user_lines[-1] not in ("root", "0")


def test_redis_keeps_queued_tasks_safe() -> None:
    command = " ".join(COMPOSE["services"]["redis"]["command"])
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command


def test_every_service_has_a_health_check() -> None:
    for name, service in COMPOSE["services"].items():
        test = (service.get("healthcheck") or {}).get("test")
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL"), name
        assert not service["healthcheck"].get("disable"), name
