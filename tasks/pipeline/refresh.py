"""Re-publishing recent stories whose attached profiles changed, as `event: updated`."""

from __future__ import annotations

import logging
from datetime import timedelta

from newsworker.stages.records import FeedRef
from newsworker.storage import articles as article_store
from newsworker.storage import feeds as feed_store
from newsworker.storage import stories as story_store
from newsworker.storage.profiles import load_snapshots, stories_to_refresh
from newsworker.tasks.pipeline.context import PipelineContext
from newsworker.tasks.pipeline.rows import article_of
from newsworker.tasks.pipeline.story_writer import StoryWriter

log = logging.getLogger("newsworker.pipeline")


def refresh_profile_stories(ctx: PipelineContext, *, window: timedelta, limit: int = 500) -> int:
    """Re-publish recent stories whose attached profiles changed since, as `event: updated`."""
    now = ctx.now()
    with ctx.session_factory() as session:
        story_ids = stories_to_refresh(session=session, since=now - window)[:limit]
        if not story_ids:
            return 0
        stories = story_store.stories_by_id(session=session, story_ids=story_ids)
        rows = article_store.articles_by_id(
            session=session, ids=[s.primary_article_id for s in stories.values()]
        )
        matcher = ctx.matcher(session)
        refreshed = 0
        for story in stories.values():
            row = rows.get(story.primary_article_id)
            feed = feed_store.get_feed(session=session, feed_id=row.feed_id) if row else None
            if row is None or feed is None or feed.id is None:
                continue
            article = article_of(row)
            matches = {article.entry_key: matcher.match(article.text)}
            ids = {m.profile_id for m in matches[article.entry_key]}
            snapshots = load_snapshots(session=session, ids=ids)
            feed_ref = FeedRef(id=feed.id, url=feed.url, title=feed.title)
            writer = StoryWriter(ctx, session, feed_ref, snapshots, matches, now)
            writer.republish(story, article)
            writer.finish()
            refreshed += 1
        session.commit()
    log.info("re-published stories with changed profiles", extra={"stories": refreshed})
    return refreshed
