"""The fetcher: one pooled client and the request loop that turns a feed URL into a FetchResult."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from types import TracebackType

import httpcore
import httpx

from newsworker.stages.errors import BadURL, BlockedURL, FetchError, FetchTimeout, RateLimited
from newsworker.stages.fetch.body import read_body, release
from newsworker.stages.fetch.caching import conditional_headers, min_refresh_seconds
from newsworker.stages.fetch.deadline import end_deadline, start_deadline
from newsworker.stages.fetch.files import read_file_url
from newsworker.stages.fetch.policy import FetchPolicy
from newsworker.stages.fetch.redirects import REDIRECT_STATUSES, RedirectChain
from newsworker.stages.fetch.status import raise_for_status
from newsworker.stages.fetch.transport import PooledClient
from newsworker.stages.fetch.urls import check_request_url, scheme_of
from newsworker.stages.records import FetchResult

# Response headers handed on to the parser with the body.
_HANDED_ON = ("etag", "last-modified", "content-language")


class Fetcher:
    """Fetches feed URLs with one pooled httpx client; use as a context manager or close()."""

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        address_allowed: Callable[[str], bool] | None = None,
        before_request: Callable[[str], None] | None = None,
    ) -> None:
        """address_allowed replaces the public-address rule (tests use it to model a network).

        before_request(host) runs before a redirect leads to a host this fetch has not asked yet
        (the caller budgets the feed's own host); it may sleep, or raise RateLimited to give up.
        """
        self.policy = policy or FetchPolicy()
        self._client = PooledClient(self.policy, address_allowed)
        self._before_request = before_request

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        previous_body_hash: str | None = None,
    ) -> FetchResult:
        """Fetch url once (following redirects), raising a FetchError subclass on failure.

        Whatever a server sends, nothing but an IngestError leaves this method.
        """
        started = time.monotonic()
        if scheme_of(url) == "file":
            if not self.policy.allow_file_urls:
                raise BlockedURL("file:// feeds are not allowed", url=url)
            return read_file_url(url, self.policy.max_body_bytes, previous_body_hash, started)
        token = start_deadline(started + self.policy.total_timeout)
        try:
            return self._fetch_http(url, etag, last_modified, previous_body_hash, started)
        except httpx.TimeoutException as e:
            raise FetchTimeout(f"timed out fetching {url}: {e}", url=url) from e
        except httpcore.TimeoutException as e:  # raised by our deadline outside httpx's mapping
            raise FetchTimeout(f"timed out fetching {url}: {e}", url=url) from e
        except httpx.HTTPError as e:
            raise FetchError(f"network error fetching {url}: {e}", url=url) from e
        except (httpx.InvalidURL, UnicodeError) as e:  # a host IDNA rejects at connect
            raise BadURL(f"cannot request {url}: {e}", url=url) from e
        except (httpcore.NetworkError, httpcore.ProtocolError, OSError, ValueError) as e:
            # Raised below httpx's own mapping (the guarded backend, the socket layer).
            raise FetchError(
                f"network error fetching {url}: {type(e).__name__}: {e}", url=url
            ) from e
        except BlockedURL as e:
            if e.url is None:
                raise BlockedURL(f"{e} while fetching {url}", url=url) from e
            raise
        except RateLimited as e:
            if e.url is None:
                raise RateLimited(
                    f"{e} while fetching {url}", url=url, retry_after_seconds=e.retry_after_seconds
                ) from e
            raise
        finally:
            end_deadline(token)

    def probe(self, url: str) -> bool:
        """True when url answers a HEAD with any status below 500 within the total timeout.

        Raises BlockedURL when the private-address guard (or the scheme rule) refuses url, and
        BadURL when url cannot be requested at all.
        """
        check_request_url(url, url, what="feed URL")
        token = start_deadline(time.monotonic() + self.policy.total_timeout)
        try:
            response = self._client.send("HEAD", url)
        except (httpx.HTTPError, httpx.InvalidURL, httpcore.TimeoutException, OSError, ValueError):
            return False
        except BlockedURL as e:
            raise BlockedURL(f"{e} while probing {url}", url=url) from e
        finally:
            end_deadline(token)
        try:
            return response.status_code < 500
        finally:
            response.close()

    def _fetch_http(
        self,
        url: str,
        etag: str | None,
        last_modified: str | None,
        previous_body_hash: str | None,
        started: float,
    ) -> FetchResult:
        headers = conditional_headers(etag, last_modified)
        chain = RedirectChain(url, self.policy.max_redirects, self._before_request)
        while True:
            current = chain.next_request()
            response = self._client.send("GET", current, headers)
            try:
                status = response.status_code
                if status in REDIRECT_STATUSES and "location" in response.headers:
                    chain.follow(status, response.headers["location"])
                    continue
                return self._finish(
                    url,
                    current,
                    response,
                    etag=etag,
                    last_modified=last_modified,
                    previous_body_hash=previous_body_hash,
                    started=started,
                    permanent_redirect_url=chain.permanent_url,
                )
            finally:
                release(response)

    def _finish(
        self,
        url: str,
        final_url: str,
        response: httpx.Response,
        *,
        etag: str | None,
        last_modified: str | None,
        previous_body_hash: str | None,
        started: float,
        permanent_redirect_url: str | None,
    ) -> FetchResult:
        status = response.status_code
        response_headers = response.headers
        if status == 304:
            return FetchResult(
                url=url,
                final_url=final_url,
                status=304,
                body=None,
                content_type=None,
                etag=response_headers.get("etag") or etag,
                last_modified=response_headers.get("last-modified") or last_modified,
                body_hash=previous_body_hash,
                not_modified=True,
                permanent_redirect_url=permanent_redirect_url,
                min_refresh_seconds=min_refresh_seconds(response_headers),
                elapsed_ms=(time.monotonic() - started) * 1000,
            )
        if status >= 300:
            raise_for_status(status, response_headers, url, final_url)
        body = read_body(response, self.policy.max_body_bytes, url)
        body_hash = hashlib.sha256(body).hexdigest()
        unchanged = previous_body_hash is not None and body_hash == previous_body_hash
        content_type = response_headers.get("content-type")
        handed_on = {"content-location": final_url}
        if content_type:
            handed_on["content-type"] = content_type
        for name in _HANDED_ON:
            if name in response_headers:
                handed_on[name] = response_headers[name]
        return FetchResult(
            url=url,
            final_url=final_url,
            status=status,
            body=None if unchanged else body,
            content_type=content_type,
            etag=response_headers.get("etag"),
            last_modified=response_headers.get("last-modified"),
            body_hash=body_hash,
            not_modified=unchanged,
            permanent_redirect_url=permanent_redirect_url,
            min_refresh_seconds=min_refresh_seconds(response_headers),
            elapsed_ms=(time.monotonic() - started) * 1000,
            headers=handed_on,
        )
