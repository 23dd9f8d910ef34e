"""The ingest error tree: retryability lives on the type.

IngestError
├── FetchError            temporary: retried with backoff, counted against the feed
│   ├── FetchTimeout
│   ├── BodyTooLarge
│   ├── TooManyRedirects  (a loop is one)
│   ├── HTTPStatusError   other 4xx/5xx
│   ├── RateLimited       429/503 with Retry-After: rescheduled, not counted as an error
│   ├── FeedGone          410: permanent, the feed is disabled
│   ├── BlockedURL        private address or forbidden scheme: permanent
│   └── BadURL            a feed URL or redirect Location that is not a valid URL: permanent
└── ParseError            permanent: nothing usable in the body
"""

from __future__ import annotations


class IngestError(Exception):
    """Base of every error the pipeline raises about a feed or an entry."""

    retryable: bool = False
    counts_as_error: bool = True
    kind: str = "ingest_error"

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url

    def __str__(self) -> str:
        message = super().__str__()
        return f"{message} ({self.url})" if self.url and self.url not in message else message


class FetchError(IngestError):
    """The feed could not be fetched; usually temporary."""

    retryable = True
    kind = "fetch_error"


class FetchTimeout(FetchError):
    """Connect, read or total timeout."""

    kind = "timeout"


class BodyTooLarge(FetchError):
    """The body (after decompression) passed the size cap."""

    kind = "body_too_large"


class TooManyRedirects(FetchError):
    """More redirects than allowed, or a redirect loop."""

    kind = "redirects"


class HTTPStatusError(FetchError):
    """A 4xx/5xx status that is neither 410 nor a rate limit."""

    kind = "http_status"

    def __init__(self, message: str, *, url: str | None = None, status: int) -> None:
        super().__init__(message, url=url)
        self.status = status


class RateLimited(FetchError):
    """429/503 with Retry-After, or our own per-host budget: come back later."""

    counts_as_error = False
    kind = "rate_limited"

    def __init__(self, message: str, *, url: str | None = None, retry_after_seconds: float) -> None:
        super().__init__(message, url=url)
        self.retry_after_seconds = retry_after_seconds


class FeedGone(FetchError):
    """410 Gone: the feed is disabled with a reason."""

    retryable = False
    kind = "gone"


class BlockedURL(FetchError):
    """The URL or a redirect target is forbidden (private address, file:// or unsafe scheme)."""

    retryable = False
    kind = "blocked"


class BadURL(FetchError):
    """The feed URL or a redirect's Location cannot be requested (malformed host, port...)."""

    retryable = False
    kind = "bad_url"


class ParseError(IngestError):
    """The body holds nothing usable as a feed; permanent for this body."""

    kind = "parse_error"
