"""Reading a Learning Record Store's Statement API: pages of statements, retried, never parsed
statement by statement here (the warehouse parses the page bodies).

The xAPI way to read "what is new" is ``GET statements?since=<watermark>&ascending=true``
and following each page's ``more`` link. Ralph, the LRS of the Open edX ecosystem, differs
(docs/notes-ralph.md, measured on 5.1.0): its ``since`` filters on ``timestamp``, not on
``stored``, so a statement stored late with an old timestamp would never be read again; its
pages come oldest-stored first whatever ``ascending`` says; and its ``more`` link is an id
cursor, ``search_after=<id of the page's last statement>``, that it also accepts by hand. So
there are two ways to resume (``paging``):

- ``since``: the standard; the next pull asks for what was stored since the watermark (the
  greatest ``stored`` read) less an overlap, and the warehouse drops the ids it already holds.
- ``search_after``: Ralph's id cursor; the next pull asks for what follows the last id read.

``auto`` (the default) asks the LRS for one statement and looks at its ``more`` link: a
``search_after`` cursor means Ralph's paging; anything else, the standard.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

XAPI_VERSION = "1.0.3"
PAGINGS = ("auto", "since", "search_after")
# Worth another try: the LRS or the network is busy or restarting.
TRANSIENT_STATUSES = {408, 425, 429, 500, 502, 503, 504}


class LrsError(RuntimeError):
    """The LRS could not be read; the message names the LRS, the request and the reason."""


class LrsCredentialsError(LrsError):
    """The LRS refused the credentials: retrying cannot help."""


class LrsUnavailableError(LrsError):
    """The LRS did not answer, or answered with an error, on every try."""


@dataclass(frozen=True)
class LrsConfig:
    """Where the LRS is and how to read it (the resource's settings, docs in the README)."""

    url: str  # the xAPI endpoint, e.g. http://lrs.example/xAPI/ (a trailing / is added)
    user: str = ""
    password: str = ""
    page_size: int = 500  # `limit`; an LRS may cap it (Ralph: 100)
    paging: str = "auto"
    overlap_seconds: float = 300.0  # `since` mode: statements stored late within this window
    batch_statements: int = 5000  # statements per committed batch
    retries: int = 4  # tries of one page before the pull stops (backoff 1, 2, 4 s ...)
    timeout_seconds: float = 60.0
    backoff_seconds: float = 1.0

    def __post_init__(self) -> None:
        if self.paging not in PAGINGS:
            raise ValueError(f"LRS paging {self.paging!r}: choose one of {', '.join(PAGINGS)}")
        if not self.url.endswith("/"):
            object.__setattr__(self, "url", self.url + "/")

    @property
    def endpoint(self) -> str:
        """The Statement API resource: ``<url>statements``."""
        return urllib.parse.urljoin(self.url, "statements")


def since_text(watermark: datetime, overlap_seconds: float) -> str:
    """The ``since`` parameter: the watermark less the overlap, in UTC with ``Z``."""
    moment = watermark - timedelta(seconds=overlap_seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def first_page_url(
    config: LrsConfig,
    paging: str,
    watermark: datetime | None,
    last_id: str | None,
    limit: int | None = None,
) -> str:
    """The first page of a pull that resumes from the watermark or the last id read."""
    query = {"limit": str(limit or config.page_size)}
    if paging == "search_after":
        # Ralph: storage order is already oldest first, and `ascending` reverses each page.
        if last_id:
            query["search_after"] = last_id
    else:
        query["ascending"] = "true"
        if watermark is not None:
            query["since"] = since_text(watermark, config.overlap_seconds)
    return f"{config.endpoint}?{urllib.parse.urlencode(query)}"


def uses_search_after(more: str | None) -> bool:
    """Whether a ``more`` link is Ralph's id cursor."""
    if not more:
        return False
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(more).query)
    return "search_after" in query


class LrsClient:
    """GETs against one LRS with basic auth, the version header, retries and a timeout."""

    def __init__(self, config: LrsConfig, sleep=time.sleep) -> None:
        self.config = config
        self._sleep = sleep
        token = base64.b64encode(f"{config.user}:{config.password}".encode()).decode("ascii")
        self._headers = {
            "Authorization": f"Basic {token}",
            "X-Experience-API-Version": XAPI_VERSION,
            "Accept": "application/json",
        }

    def resolve(self, link: str) -> str:
        """A ``more`` link (relative, or an absolute path) as a full URL."""
        return urllib.parse.urljoin(self.config.endpoint, link)

    def get(self, url: str) -> str:
        """The body of ``url``; transient failures are tried ``retries`` times in all."""
        tries = max(1, self.config.retries)
        for attempt in range(1, tries + 1):
            try:
                return self._get_once(url)
            except LrsUnavailableError as error:
                if attempt == tries:
                    raise LrsUnavailableError(f"{error} (tried {tries} times)") from None
                self._sleep(self.config.backoff_seconds * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    def _get_once(self, url: str) -> str:
        request = urllib.request.Request(url, headers=self._headers)
        where = f"LRS {self.config.url}: GET {shown(url)}"
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_seconds) as response:
                return response.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")[:300]
            if error.code in (401, 403):
                raise LrsCredentialsError(
                    f"{where}: HTTP {error.code}, the LRS refused the credentials: check "
                    "SKILLGAP_LRS_USER and SKILLGAP_LRS_PASSWORD"
                ) from None
            kind = LrsUnavailableError if error.code in TRANSIENT_STATUSES else LrsError
            raise kind(f"{where}: HTTP {error.code} {detail}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise LrsUnavailableError(f"{where}: no answer ({reason})") from None
        except UnicodeDecodeError as error:
            raise LrsError(f"{where}: the answer is not UTF-8 ({error})") from None


def shown(url: str) -> str:
    """``url`` without its scheme and host, for messages (the LRS is named beside it)."""
    parts = urllib.parse.urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def first_unread_id(
    config: LrsConfig,
    paging: str | None,
    watermark: datetime | None,
    last_id: str | None,
    client: LrsClient | None = None,
) -> str | None:
    """The id of one statement the LRS stored after the last pull's cursor, or None when it
    holds nothing newer: one ``limit=1`` GET, for the landing sensor. Without a cursor (no
    pull yet) any statement is new. ``since`` is asked without the overlap: the overlap is
    for the pull, which drops what it already holds; here it would always find something."""
    config = dataclasses.replace(config, overlap_seconds=0.0, retries=1, timeout_seconds=10.0)
    if paging is None:
        url = f"{config.endpoint}?limit=1"
    else:
        url = first_page_url(config, paging, watermark, last_id, limit=1)
    body = json.loads((client or LrsClient(config)).get(url))
    statements = body.get("statements") if isinstance(body, dict) else None
    if not statements:
        return None
    first = statements[0]
    found = str(first.get("id")) if isinstance(first, dict) else None
    # an LRS that takes `since` as inclusive returns the last statement read again
    return None if found == last_id else found
