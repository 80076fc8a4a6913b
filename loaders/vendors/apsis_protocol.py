"""The APSIS One email-event export API: what the client (`loaders/transports/apsis*.py`) and the fake server
(`fixtures/apsis_api.py`) must agree on, written once.

The walk: `POST /oauth/token` (client credentials) -> `POST /emails/reports` with a window -> poll
`GET /emails/reports/{id}?header_auth=true` until the status is terminal -> `GET file_download_url` with the
`x-apsis-auth` header the status answer returned. [doc] marks what the vendor documents, [guess] what we chose
where it is silent (the client accepts every variant we could think of).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

Window = tuple[datetime, datetime]  # [start, end), UTC

# ---------------------------------------------------------------- time

STAMP = "%Y%m%dT%H%M%SZ"  # window bounds in file names and ledger URIs
ISO = "%Y-%m-%dT%H:%M:%SZ"  # date-times in request and answer bodies


def utc(value: datetime) -> datetime:
    """A date-time in UTC; naive values are UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_time(value: str) -> datetime:
    """An ISO 8601 date or date-time from feeds.yml or the API; naive values are UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    return utc(datetime.fromisoformat(text))


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime(ISO)


# ---------------------------------------------------------------- endpoints and headers

TOKEN_PATH = "/oauth/token"  # [doc] form (or JSON) grant_type, client_id, client_secret
GRANT_TYPE = "client_credentials"
REPORTS_PATH = "/emails/reports"  # [doc] POST a window: 201 with the report id
HEADER_AUTH = "header_auth"  # [doc] query parameter: the download then needs AUTH_HEADER
AUTH_HEADER = "x-apsis-auth"  # [doc] its value comes with the status answer ([guess] header or JSON)


def report_path(report_id: str) -> str:
    """[doc] Where a report's status is asked."""
    return f"{REPORTS_PATH}/{report_id}"


# ---------------------------------------------------------------- the export request and its answers

START_AT, END_AT = "start_at", "end_at"  # [doc] start_at required; end_at defaults to now
ATTRIBUTE_MAPPINGS = "additional_attribute_mappings"  # [doc]
TAG_MAPPINGS = "additional_tag_mappings"  # [doc]
REPORT_ID_FIELDS = ("report_id", "id")  # [guess] the answer's id field: either is read
STATUS = "status"
DOWNLOAD_URL = "file_download_url"  # [doc] on a completed report, fresh with each status answer
DOWNLOAD_URL_EXPIRES_AT = "file_download_url_expires_at"  # [doc]
FILE_EXPIRES_AT = "file_expires_at"  # [doc]


def export_request(window: Window, attributes: Sequence[str], tags: Sequence[str]) -> dict[str, Any]:
    """The body of `POST /emails/reports` for a window, with the attribute and tag columns wanted."""
    return {
        START_AT: iso(window[0]),
        END_AT: iso(window[1]),
        ATTRIBUTE_MAPPINGS: list(attributes),
        TAG_MAPPINGS: list(tags),
    }


def report_id_of(answer: dict[str, Any]) -> str | None:
    for key in REPORT_ID_FIELDS:
        if answer.get(key):
            return str(answer[key])
    return None


def auth_of(headers: Any, answer: dict[str, Any]) -> str | None:
    """The x-apsis-auth value of a status answer: [guess] a response header, or a field of the JSON."""
    value = headers.get(AUTH_HEADER) or answer.get(AUTH_HEADER) or answer.get(AUTH_HEADER.replace("-", "_"))
    return str(value) if value else None


# ---------------------------------------------------------------- statuses

PENDING, IN_PROGRESS, COMPLETED = "pending", "in_progress", "completed"
ERROR, FAILED, EXPIRED = "error", "failed", "expired"
BUILDING = (PENDING, IN_PROGRESS)  # still being built: ask again
TERMINAL = (COMPLETED, ERROR, FAILED, EXPIRED, "cancelled", "canceled")
TOO_LARGE = (ERROR, FAILED)  # [doc] a too-large export ends in `error`: retry with a smaller window

# ---------------------------------------------------------------- limits

TOKEN_LIFETIME = 86_400.0  # [doc] seconds a Bearer token lives (the answer's expires_in says so too)
MAX_REQUEST_WINDOW = timedelta(days=92)  # [doc] "three months", validated when requesting
MAX_ATTRIBUTES, MAX_TAGS = 75, 25  # [doc] per export request
