"""The URL account resolver: account JWTs fetched over HTTP, as the reference's
URLAccResolver does (``GET <url>/<account public key>``, the body is the JWT).

Used by operator mode (:class:`pynatsd.auth.operator.OperatorAuth` calls :meth:`fetch` when
a user logs into an account it does not know yet). Errors carry the reference's texts.
"""

from __future__ import annotations

import aiohttp

__all__ = ["FETCH_TIMEOUT", "ResolverError", "URLResolver"]

FETCH_TIMEOUT = 1.9  # seconds, the reference's DEFAULT_ACCOUNT_FETCH_TIMEOUT


class ResolverError(Exception):
    """A fetch that failed; the text is the reference's."""


class URLResolver:
    """Fetches account JWTs from an account server; one HTTP session, opened on first use."""

    def __init__(self, url: str) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self._session: aiohttp.ClientSession | None = None

    async def fetch(self, name: str) -> str:
        url = self.url + name
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT))
        try:
            async with self._session.get(url) as resp:
                if resp.status != 200:
                    raise ResolverError(
                        f'could not fetch <"{url}">: {resp.status} {resp.reason or ""}'.rstrip()
                    )
                return await resp.text()
        except ResolverError:
            raise
        except TimeoutError:
            raise ResolverError(
                f'could not fetch <"{url}">: Get "{url}": context deadline exceeded'
            ) from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise ResolverError(f'could not fetch <"{url}">: Get "{url}": {exc}') from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
