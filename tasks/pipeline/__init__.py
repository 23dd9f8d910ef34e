"""The pipeline that runs the pure stages against the store: polls, ingest, stories, refresh."""

from newsworker.tasks.pipeline.context import PipelineContext, PollOutcome
from newsworker.tasks.pipeline.poll import poll_feed, poll_feeds, prepare_here
from newsworker.tasks.pipeline.refresh import refresh_profile_stories

__all__ = [
    "PipelineContext",
    "PollOutcome",
    "poll_feed",
    "poll_feeds",
    "prepare_here",
    "refresh_profile_stories",
]
