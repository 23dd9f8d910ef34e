"""Relay passes with a process's runtime: what the publish task and `newsworker run` call.

The relay itself (tasks/relay.py) takes its sinks and policy as arguments; here they come from
the process's settings, the same way for every caller.
"""

from __future__ import annotations

from newsworker.tasks.relay import PublishReport, publish_pending
from newsworker.tasks.runtime import Runtime


def relay_once(runtime: Runtime) -> PublishReport:
    """One relay pass to the process's sinks, batched and retried as its settings say."""
    return publish_pending(
        session_factory=runtime.session,
        sinks=runtime.sinks,
        batch_size=runtime.settings.publish_batch_size,
        max_attempts=runtime.settings.webhook_max_attempts,
    )


def relay_all(runtime: Runtime) -> int:
    """Relay passes until one sends nothing; returns how many deliveries were sent."""
    sent = 0
    while batch := relay_once(runtime).sent:
        sent += batch
    return sent
