"""docs/operations.md lists every setting with its default, and names real metrics."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from newsworker.config.settings import Settings
from newsworker.tasks import metrics
from tests.support.paths import DOCS

DOC = DOCS / "operations.md"


def render_default(value: Any) -> str:
    """A default as the docs print it."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def settings_rows() -> list[str]:
    """One Markdown table row per setting: variable and default."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        rows.append(f"| `NEWSWORKER_{name.upper()}` | `{render_default(default)}` |")
    return rows


def test_every_setting_is_documented_with_its_default() -> None:
    doc = DOC.read_text()
    missing = [row for row in settings_rows() if row not in doc]
    assert not missing, "docs/operations.md lacks these rows (regenerate the table):\n" + "\n".join(
        missing
    )


def test_alert_rules_use_metrics_that_exist() -> None:
    known = {m._name for m in vars(metrics).values() if hasattr(m, "_name")}
    known |= {
        "newsworker_outbox_pending",
        "newsworker_outbox_oldest_pending_seconds",
        "newsworker_feeds",
        "newsworker_store_up",
    }
    used = set(
        re.findall(r"\b(newsworker_[a-z_]+?)(?:_total|_bucket|_count|_sum)?\b", DOC.read_text())
    )
    unknown = {
        name for name in used if name not in known and name.removesuffix("_total") not in known
    }
    assert not unknown, f"docs/operations.md names metrics that do not exist: {sorted(unknown)}"


def test_the_runbook_covers_what_the_issue_asks() -> None:
    doc = DOC.read_text().lower()
    for heading in (
        "## settings",
        "## scaling",
        "## alerting",
        "## upgrading",
        "## recovering",
        "## logs",
    ):
        assert heading in doc, heading


if __name__ == "__main__":
    print("\n".join(settings_rows()))
