"""How long a dispatched feed stays handed out before another dispatch may claim it again."""

from __future__ import annotations

from datetime import timedelta

# Only a backstop for a poll message the broker lost (Redis data loss, a purged queue): a poll
# lost with its worker is redelivered by the broker one visibility timeout after the worker
# died (90 s by default), and runs whatever the lease says. So the lease only has to outlast a
# poll that was killed at its hard time limit and then redelivered: 300 s + 90 s + one sweep.
# Shorter, it would enqueue a second poll for every feed still waiting in a long queue.
DISPATCH_LEASE = timedelta(minutes=7)
