"""The Activity Stream's event shape, checked before anything is stored.

[doc] `{"event": str, "type": str, "properties": {...}, "user": {"id": ..., "email": ...}, "timestamp": <ms>}`.
A POST carries one event or an array of them. Keys beyond these are kept (a vendor adding a field is schema
drift the loader records, not an error); a body with any malformed event is refused whole, so a sender's
retry cannot half-duplicate it.

Each event is stored as one line of compact, ASCII-only JSON, exactly as `json.dumps(event, separators=(",",
":"))` writes it. msgspec decodes and encodes in C, several times faster than the json module; it is used
only where its bytes are the json module's: a body it refuses, one with a float (their formats differ: 1e-05
against 1e-5) and an event whose line would not be plain ASCII all take the json module's path, which also
words every refusal.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec


class InvalidEvents(ValueError):
    """The body is not what Encharge sends; the message says which event and which key."""


class _FloatSeen(Exception):
    """A JSON float in the body: the json module decodes and writes it (its float format is the stored one)."""


def _no_floats(_text: str) -> Any:
    raise _FloatSeen


_fast_decode = msgspec.json.Decoder(float_hook=_no_floats).decode
_fast_encode = msgspec.json.Encoder().encode


def _no_constants(name: str) -> Any:
    raise InvalidEvents(f"{name} is not valid JSON")


def _check(event: Any, where: str) -> None:
    if not isinstance(event, dict):
        raise InvalidEvents(f"{where}: expected a JSON object, got {type(event).__name__}")
    name = event.get("event")
    if not isinstance(name, str) or not name.strip():
        raise InvalidEvents(f"{where}: 'event' must be a non-empty string")
    kind = event.get("type")
    if kind is not None and not isinstance(kind, str):
        raise InvalidEvents(f"{where}: 'type' must be a string")
    properties = event.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise InvalidEvents(f"{where}: 'properties' must be an object")
    user = event.get("user")
    if not isinstance(user, dict):
        raise InvalidEvents(f"{where}: 'user' must be an object with 'id' and/or 'email'")
    if not (_user_key(user.get("id")) or _user_key(user.get("email"))):
        raise InvalidEvents(f"{where}: 'user' needs an 'id' or an 'email'")
    ts = event.get("timestamp")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or ts < 0:
        raise InvalidEvents(f"{where}: 'timestamp' must be a UNIX time in milliseconds (a number)")


def _user_key(value: Any) -> bool:
    """An id or email that names the user: a string or a number (a bool is a number to Python: kept so)."""
    return isinstance(value, str | int) and value != ""


def _slow_decode(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_no_constants)
    except InvalidEvents:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEvents(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidEvents("body is not an Encharge event: its JSON is nested too deeply") from None


def _slow_line(event: Any) -> bytes:
    # ASCII with escapes: one event is always one line, and a lone surrogate in a sender's string cannot make
    # the file invalid UTF-8 (which would quarantine every event in it at load).
    return json.dumps(event, separators=(",", ":")).encode("ascii") + b"\n"


def _fast_line(event: Any) -> bytes:
    """The json module's line for an event msgspec decoded (so without floats)."""
    try:
        line = _fast_encode(event)
    except Exception:  # an integer msgspec cannot write: the json module can
        return _slow_line(event)
    # msgspec writes non-ASCII characters and DEL as they are, the json module as \u escapes.
    if not line.isascii() or b"\x7f" in line:
        return _slow_line(event)
    return line + b"\n"


def parse_events(body: bytes) -> list[bytes]:
    """One NDJSON line (newline included) per event, in the order received; InvalidEvents if any is bad."""
    try:
        doc, line = _fast_decode(body), _fast_line
    except Exception:  # anything msgspec refuses or a float: the json module decides and words a refusal
        doc, line = _slow_decode(body), _slow_line
    events = doc if isinstance(doc, list) else [doc]
    if not events:
        raise InvalidEvents("empty array: no events to store")
    for i, event in enumerate(events):
        _check(event, f"event {i}" if isinstance(doc, list) else "event")
    return [line(e) for e in events]
