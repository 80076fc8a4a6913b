"""The receiver's event parser stores exactly the bytes the json module would, and refuses exactly what it refused.

`parse_events` decodes and encodes with msgspec where that gives the json module's bytes, and takes the json
module's path elsewhere (floats, non-ASCII, DEL, anything msgspec refuses). Here it is compared with the
json-only parser it replaced, on generated events, on JSON written every way `json.dumps` can, and on bodies
with bytes changed at random.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loaders.receiver.events import InvalidEvents, parse_events


def _reference(body: bytes) -> list[bytes]:
    """The json-only parser as it was before msgspec (its checks inlined)."""

    def no_constants(name: str) -> Any:
        raise InvalidEvents(f"{name} is not valid JSON")

    try:
        doc = json.loads(body, parse_constant=no_constants)
    except InvalidEvents:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEvents(f"body is not valid JSON: {exc}") from None
    events = doc if isinstance(doc, list) else [doc]
    if not events:
        raise InvalidEvents("empty array: no events to store")
    for i, event in enumerate(events):
        where = f"event {i}" if isinstance(doc, list) else "event"
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
    return [json.dumps(e, separators=(",", ":")).encode("ascii") + b"\n" for e in events]


def _outcome(parse: Any, body: bytes) -> tuple[str, Any]:
    try:
        return "stored", parse(body)
    except InvalidEvents as exc:
        return "refused", str(exc)


def assert_same(body: bytes) -> None:
    assert _outcome(parse_events, body) == _outcome(_reference, body), body


# Every character, lone surrogates included; ASCII control characters and DEL often.
chars = st.one_of(
    st.characters(codec=None, categories=None),
    st.sampled_from([chr(c) for c in range(0x20)] + ["\x7f", '"', "\\", "/", "\ud800", "\udfff", "\u2028"]),
)
text = st.text(chars, max_size=12)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.sampled_from([0.0, -0.0, 1e-05, 1e16, 1e22, 1.5e-07, 123.0, 2**64, -(2**63) - 1, 10**30]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=12,
)
events = st.fixed_dictionaries(
    {
        "event": st.one_of(st.sampled_from(["email-open", "added-tag-vip", " "]), text),
        "user": st.one_of(
            st.fixed_dictionaries({"id": st.one_of(text, st.integers(), st.booleans(), st.none())}),
            st.fixed_dictionaries({"email": text}),
            values,
        ),
        "timestamp": st.one_of(st.integers(min_value=-5, max_value=2**66), numbers, st.booleans(), text),
    },
    optional={
        "type": st.one_of(text, values),
        "properties": st.one_of(st.dictionaries(text, values), values),
    },
)
docs = st.one_of(events, st.lists(events, max_size=3), values)


def _write(doc: Any, ascii_only: bool, compact: bool, indent: int | None) -> bytes:
    seps = (",", ":") if compact else None
    return json.dumps(doc, ensure_ascii=ascii_only, separators=seps, indent=indent).encode(
        "utf-8", "surrogatepass"
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs, st.booleans(), st.booleans(), st.sampled_from([None, 0, 2]))
def test_same_bytes_or_same_refusal_as_the_json_module(
    doc: Any, ascii_only: bool, compact: bool, indent: Any
) -> None:
    assert_same(_write(doc, ascii_only, compact, indent))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events, st.lists(st.tuples(st.integers(min_value=0), st.binary(max_size=3)), min_size=1, max_size=3))
def test_damaged_bodies_are_judged_alike(event: dict, edits: list[tuple[int, bytes]]) -> None:
    body = bytearray(_write(event, False, True, None))
    for at, new in edits:
        at %= len(body) + 1
        body[at : at + len(new) // 2 + 1] = new
    assert_same(bytes(body))


def test_known_differences_of_the_fast_codec_take_the_json_path() -> None:
    base = {"event": "e", "user": {"id": "u"}, "timestamp": 1}
    for extra in [1e-05, 1.5e-07, 1e16, 10**30, -(2**63) - 1, "é", "\x7f", "\u2028", "\ud800", "\x00\x1f"]:
        body = json.dumps({**base, "properties": {"x": extra}}).encode("utf-8", "surrogatepass")
        assert_same(body)
    for body in [b"\xef\xbb\xbf" + json.dumps(base).encode(), json.dumps(base).encode("utf-16"), b"[1e400]"]:
        assert_same(body)
