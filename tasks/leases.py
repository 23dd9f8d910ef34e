"""How long a dispatched feed stays handed out before another dispatch may claim it again."""

from __future__ import annotations

from datetime import timedelta

# Longer than a poll's hard time limit: a lost poll task brings its feed back after it.
DISPATCH_LEASE = timedelta(minutes=15)
