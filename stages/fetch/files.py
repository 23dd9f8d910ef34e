"""file:// feeds (only when the policy allows them): read under the size cap, typed by suffix."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import time
from urllib.parse import urlsplit
from urllib.request import url2pathname

from newsworker.stages.errors import BadURL, BlockedURL, BodyTooLarge, FetchError
from newsworker.stages.records import FetchResult

_FEED_MIME_BY_SUFFIX = {
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".xml": "application/xml",
    ".json": "application/feed+json",
    ".html": "text/html",
    ".htm": "text/html",
}


def read_file_url(
    url: str, cap: int, previous_body_hash: str | None, started: float
) -> FetchResult:
    """Read a local file:// feed as a 200 FetchResult; started is the fetch's monotonic start."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise BlockedURL(f"file:// URL with a remote host: {url}", url=url)
    path = url2pathname(parts.path)
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size > cap:
                raise BodyTooLarge(f"file exceeds {cap} bytes", url=url)
            body = handle.read(cap + 1)
    except OSError as e:
        raise FetchError(f"cannot read {url}: {e}", url=url) from e
    except ValueError as e:  # a NUL byte in the path
        raise BadURL(f"cannot read {url}: {e}", url=url) from e
    if len(body) > cap:
        raise BodyTooLarge(f"file exceeds {cap} bytes", url=url)
    suffix = os.path.splitext(path)[1].lower()
    content_type = _FEED_MIME_BY_SUFFIX.get(suffix) or mimetypes.guess_type(path)[0]
    body_hash = hashlib.sha256(body).hexdigest()
    unchanged = body_hash == previous_body_hash
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    return FetchResult(
        url=url,
        final_url=url,
        status=200,
        body=None if unchanged else body,
        content_type=content_type,
        body_hash=body_hash,
        not_modified=unchanged,
        elapsed_ms=(time.monotonic() - started) * 1000,
        headers=headers,
    )
