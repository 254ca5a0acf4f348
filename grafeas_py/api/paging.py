"""Page tokens: opaque (encrypted), authenticated, and bound to the collection and filter they were
issued for. Encrypted, not only signed: a token carries a row's key, and keys are numbered across
every project, so reading one's own tokens told how many rows others wrote meanwhile."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app

from ..errors import InvalidArgument
from ..storage import Page, PageRequest

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 1000


class PageTokens:
    """Issues and checks page tokens that carry the keyset position of the last item served."""

    def __init__(self, secret: Callable[[], str], max_bytes: int) -> None:
        self._secret = secret  # fetched on first use, so the app starts before the database is up
        self._cached: Fernet | None = None
        self._max_bytes = max_bytes  # of documents in a page: as much as a request's body may hold

    @property
    def _fernet(self) -> Fernet:
        if self._cached is None:
            key = hashlib.sha256(b"grafeas-py.page-token\0" + self._secret().encode()).digest()
            self._cached = Fernet(base64.urlsafe_b64encode(key))
        return self._cached

    def request(self, collection: str, filter_: str, page_size: int, token: str) -> PageRequest:
        """The page a list call asks for; 400 on a bad size or a token from elsewhere."""
        if page_size < 0:
            raise InvalidArgument(f"pageSize must not be negative, got {page_size}")
        if page_size > MAX_PAGE_SIZE:
            raise InvalidArgument(f"pageSize must be at most {MAX_PAGE_SIZE}, got {page_size}")
        size = page_size or DEFAULT_PAGE_SIZE
        if not token:
            return PageRequest(size=size, max_bytes=self._max_bytes)
        try:
            issued_for, issued_filter, after = json.loads(self._fernet.decrypt(token.encode()))
        except (InvalidToken, ValueError, TypeError):
            raise InvalidArgument("pageToken is invalid: use the nextPageToken of a previous response") from None
        if issued_for != collection or issued_filter != filter_:
            raise InvalidArgument("pageToken was issued for a different list request (its parent or filter differ)")
        after = tuple(after) if isinstance(after, list) else int(after)
        return PageRequest(size=size, after=after, max_bytes=self._max_bytes)

    def next_token(self, collection: str, filter_: str, page: Page) -> str | None:
        """The token for the page after `page`, or None on the last page."""
        if not page.more:
            return None
        return self._fernet.encrypt(json.dumps([collection, filter_, page.last]).encode()).decode()


def page_request(collection: str, args: dict) -> PageRequest:
    """The storage page a list call asks for (its query already parsed by `schemas.ListQuery`)."""
    return current_app.extensions["grafeas"].tokens.request(
        collection, args.get("filter", ""), args["pageSize"], args["pageToken"]
    )


def next_page_token(collection: str, args: dict, page: Page) -> str | None:
    return current_app.extensions["grafeas"].tokens.next_token(collection, args.get("filter", ""), page)
