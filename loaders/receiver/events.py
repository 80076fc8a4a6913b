"""The Activity Stream's event shape, checked before anything is stored.

[doc] `{"event": str, "type": str, "properties": {...}, "user": {"id": ..., "email": ...}, "timestamp": <ms>}`.
A POST carries one event or an array of them. Keys beyond these are kept (a vendor adding a field is schema
drift the loader records, not an error); a body with any malformed event is refused whole, so a sender's
retry cannot half-duplicate it.
"""

from __future__ import annotations

import json
from typing import Any


class InvalidEvents(ValueError):
    """The body is not what Encharge sends; the message says which event and which key."""


def _no_constants(name: str) -> Any:
    raise InvalidEvents(f"{name} is not valid JSON")


def _check(event: Any, where: str) -> None:
    if not isinstance(event, dict):
        raise InvalidEvents(f"{where}: expected a JSON object, got {type(event).__name__}")
    name = event.get("event")
    if not isinstance(name, str) or not name.strip():
        raise InvalidEvents(f"{where}: 'event' must be a non-empty string")
    if event.get("type") is not None and not isinstance(event["type"], str):
        raise InvalidEvents(f"{where}: 'type' must be a string")
    if event.get("properties") is not None and not isinstance(event["properties"], dict):
        raise InvalidEvents(f"{where}: 'properties' must be an object")
    user = event.get("user")
    if not isinstance(user, dict):
        raise InvalidEvents(f"{where}: 'user' must be an object with 'id' and/or 'email'")
    if not any(isinstance(user.get(k), str | int) and user.get(k) != "" for k in ("id", "email")):
        raise InvalidEvents(f"{where}: 'user' needs an 'id' or an 'email'")
    ts = event.get("timestamp")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or ts < 0:
        raise InvalidEvents(f"{where}: 'timestamp' must be a UNIX time in milliseconds (a number)")


def parse_events(body: bytes) -> list[bytes]:
    """One NDJSON line (newline included) per event, in the order received; InvalidEvents if any is bad."""
    try:
        doc = json.loads(body, parse_constant=_no_constants)
    except InvalidEvents:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEvents(f"body is not valid JSON: {exc}") from None
    events = doc if isinstance(doc, list) else [doc]
    if not events:
        raise InvalidEvents("empty array: no events to store")
    for i, event in enumerate(events):
        _check(event, f"event {i}" if isinstance(doc, list) else "event")
    # ASCII with escapes: one event is always one line, and a lone surrogate in a sender's string cannot make
    # the file invalid UTF-8 (which would quarantine every event in it at load).
    return [json.dumps(e, separators=(",", ":")).encode("ascii") + b"\n" for e in events]
