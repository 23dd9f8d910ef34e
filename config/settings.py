"""The one typed settings object, read from NEWSWORKER_* env vars and an optional .env file."""

from __future__ import annotations

import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from newsworker import __version__
from newsworker.config.defaults import DEFAULT_STREAM_NAME, DEFAULT_TRACKING_PARAMS
from newsworker.config.redaction import redact_urls, url_password


class WebhookTarget(BaseModel):
    """One webhook endpoint with its own signing secret."""

    name: str
    url: str
    secret: str = Field(min_length=16)


class SettingsError(Exception):
    """Settings failed validation; the message names the variable."""


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class Settings(BaseSettings):
    """Everything newsworker reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSWORKER_", env_file=".env", extra="ignore", frozen=True
    )

    # --- Stores and broker ---
    database_url: str = "sqlite:///./newsworker.db"
    # Unset: embedded mode, tasks run eagerly in-process.
    broker_url: str | None = None
    # Unset: no Redis stream sink, no shared host budgets or locks (in-process ones instead).
    redis_url: str | None = None

    # --- Fetching ---
    user_agent_contact_url: str = "https://github.com/newsworker/newsworker"
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    read_timeout_seconds: float = Field(default=30.0, gt=0)
    total_timeout_seconds: float = Field(default=60.0, gt=0)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    max_redirects: int = Field(default=5, ge=0, le=20)
    # Consecutive polls that must see the same 301/308 target before the feed URL is updated.
    permanent_redirect_confirmations: int = Field(default=3, ge=1)
    allow_private_addresses: bool = False
    allow_file_urls: bool = False
    host_requests_per_second: float = Field(default=1.0, gt=0)
    # Per-host overrides, e.g. {"feeds.example.com": 5}.
    host_requests_per_second_overrides: dict[str, float] = Field(default_factory=dict)
    feed_lock_seconds: int = Field(default=300, gt=0)

    # --- Scheduling ---
    min_interval_seconds: int = Field(default=300, gt=0)
    max_interval_seconds: int = Field(default=86400, gt=0)
    default_interval_seconds: int = Field(default=900, gt=0)
    max_backoff_seconds: int = Field(default=21600, gt=0)
    failing_after_errors: int = Field(default=5, ge=1)
    dispatch_batch_size: int = Field(default=500, gt=0)
    dispatch_interval_seconds: float = Field(default=30.0, gt=0)
    # Network-down detection: when this share of a window's polls fail, errors are not counted.
    outage_failure_ratio: float = Field(default=0.9, gt=0, le=1)
    outage_min_polls: int = Field(default=20, ge=1)
    # Unset or empty: no canary. A URL that should always answer (HEAD, any status below 500);
    # when it does not, failed polls are not counted against their feeds.
    outage_canary_url: str | None = None

    # --- Normalization ---
    tracking_params: Annotated[tuple[str, ...], NoDecode] = DEFAULT_TRACKING_PARAMS
    future_date_tolerance_seconds: int = Field(default=86400, ge=0)
    max_title_chars: int = Field(default=300, gt=0)
    max_text_chars: int = Field(default=100_000, gt=0)
    max_summary_chars: int = Field(default=1_000, gt=0)
    dedupe_across_feeds: bool = True
    # Estimated Jaccard of 5-word shingles: 5%-edited copies measure 0.69-0.81 and unrelated
    # texts at most 0.03, so 0.5 joins edited copies with margin and never joins strangers.
    near_duplicate_threshold: float = Field(default=0.5, gt=0, le=1)
    # Processes `newsworker run` parses and normalizes feeds in while it stores earlier ones.
    # Unset: one fewer than the CPUs (at most 4); 0 keeps it all in one process. Celery workers
    # do not use it: their concurrency is the pool's.
    prepare_processes: int | None = Field(default=None, ge=0, le=64)

    # --- Enrichment ---
    profile_summary_max_chars: int = Field(default=1_200, gt=0)
    entity_min_confidence: float = Field(default=0.5, ge=0, le=1)
    profile_freshness_days: int = Field(default=7, ge=0)
    matcher_cache_dir: Path | None = None

    # --- Publishing ---
    jsonl_path: Path | None = Path("./newsworker-stories.jsonl")
    stream_name: str = DEFAULT_STREAM_NAME
    stream_maxlen: int = Field(default=1_000_000, gt=0)
    webhooks: list[WebhookTarget] = Field(default_factory=list)
    webhook_max_attempts: int = Field(default=8, ge=1)
    publish_batch_size: int = Field(default=500, gt=0)

    # --- Operations ---
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # Celery task events for Flower and celery-exporter. Off by default: publishing them took
    # about 40% of the worker parent's CPU in a 304 round. Flower turns them on by itself
    # (`celery control enable_events`); set true for monitors that expect them from the start.
    task_events: bool = False
    task_soft_time_limit_seconds: int = Field(default=240, gt=0)
    task_time_limit_seconds: int = Field(default=300, gt=0)
    visibility_timeout_seconds: int = Field(default=90, gt=0)
    worker_max_memory_per_child_kb: int = Field(default=1_000_000, gt=0)
    beat_lock_timeout_seconds: int = Field(default=60, gt=0)
    health_max_outbox_age_seconds: int = Field(default=600, gt=0)
    health_max_outbox_backlog: int = Field(default=10_000, gt=0)
    health_max_queue_depth: int = Field(default=10_000, gt=0)
    health_max_poll_silence_seconds: int = Field(default=3600, gt=0)
    retention_days: int = Field(default=30, gt=0)

    @field_validator("tracking_params", mode="before")
    @classmethod
    def _tracking_params_csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level_any_case(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("outage_canary_url")
    @classmethod
    def _canary_url_scheme(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+", "postgres:")):
            raise ValueError("must be sqlite:///PATH or postgresql://user@host/db")
        return value

    @field_validator("broker_url", "redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith(("redis://", "rediss://", "unix://", "memory://")):
            raise ValueError("must be a redis://host:port/db URL")
        return value

    @property
    def eager(self) -> bool:
        """True when no broker is set: tasks run in this process."""
        return self.broker_url is None

    @property
    def user_agent(self) -> str:
        """The User-Agent every request sends."""
        return f"newsworker/{__version__} (+{self.user_agent_contact_url})"

    def secret_values(self) -> list[str]:
        """Every secret these settings hold: URL passwords and webhook signing secrets."""
        urls = [self.database_url, self.broker_url, self.redis_url, self.outage_canary_url]
        urls += [hook.url for hook in self.webhooks]
        found = [password for url in urls for password in url_password(url)]
        return found + [hook.secret for hook in self.webhooks]


# An input under any of these names is never echoed, not even redacted.
_SECRET_NAMES = ("secret", "password", "token", "webhooks")


def _shown_input(loc: tuple[Any, ...], value: Any) -> str:
    if any(name in str(part).lower() for part in loc for name in _SECRET_NAMES):
        return "a hidden value"
    return redact_urls(repr(value))


def format_validation_error(error: ValidationError) -> str:
    """One readable line per bad setting, naming its env var."""
    lines = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "?"
        message = str(item["msg"]).removeprefix("Value error, ")
        shown = _shown_input(tuple(item["loc"]), item.get("input"))
        lines.append(f"NEWSWORKER_{field.upper()}: {message} (got {shown})")
    return "; ".join(lines)


def _source_error_message(error: SourceError) -> str:
    """Name the variable a settings source could not decode (its value may hold a secret)."""
    match = re.search(r'field "([^"]+)"', str(error))
    field = match.group(1).upper() if match else "?"
    return f"NEWSWORKER_{field}: not valid JSON"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, raising SettingsError with a readable message."""
    try:
        return Settings(**overrides)
    except ValidationError as e:
        raise SettingsError(format_validation_error(e)) from e
    except SourceError as e:
        raise SettingsError(_source_error_message(e)) from e


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; exits with one readable line when they are invalid."""
    try:
        return load_settings()
    except SettingsError as e:
        print(f"newsworker: invalid configuration: {e}", file=sys.stderr)
        raise SystemExit(2) from e
