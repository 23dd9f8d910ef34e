"""Downstream delivery: the v1 story contract, the sinks, webhook signing and the consumer."""

from newsworker.stages.publish.story import (
    PRODUCER,
    SCHEMA_VERSION,
    build_story,
    idempotency_key_for,
    story_id_for,
)

__all__ = ["PRODUCER", "SCHEMA_VERSION", "build_story", "idempotency_key_for", "story_id_for"]
