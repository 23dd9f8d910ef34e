"""Where the tests find the repository, its docs and samples, and the shared read-only material."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
DOCS = REPO / "docs"
FIXTURES = REPO / "tests" / "fixtures"
SAMPLES = REPO / "worker" / "samples"
