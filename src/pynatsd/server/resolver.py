"""The URL account resolver: account JWTs fetched over HTTP, as the reference's
URLAccResolver does (``GET <url>/<account public key>``, the body is the JWT).

Used by operator mode (:class:`pynatsd.auth.operator.OperatorAuth` calls :meth:`fetch` when
a user logs into an account it does not know yet). Errors carry the reference's texts.
"""

from __future__ import annotations

import ssl

import aiohttp

from pynatsd.options import TLSOptions
from pynatsd.tls import build_context

__all__ = ["FETCH_TIMEOUT", "ResolverError", "URLResolver"]

FETCH_TIMEOUT = 1.9  # seconds, the reference's DEFAULT_ACCOUNT_FETCH_TIMEOUT


class ResolverError(Exception):
    """A fetch that failed; the text is the reference's."""


class URLResolver:
    """Fetches account JWTs from an account server; one HTTP session, opened on first use."""

    def __init__(self, url: str, tls: TLSOptions | None = None) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | bool = _client_context(tls) if tls is not None else True

    async def fetch(self, name: str) -> str:
        url = self.url + name
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT),
                connector=aiohttp.TCPConnector(ssl=self._ssl),
            )
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


def _client_context(t: TLSOptions) -> ssl.SSLContext:
    """``resolver_tls`` as a client context: its ``ca_file`` (else the system's roots) checks
    the account server; ``cert_file``/``key_file`` prove the server's identity to it."""
    ctx = build_context(t, server_side=False)
    if not t.ca_file:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if t.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
