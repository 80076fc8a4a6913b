"""Types of the C record counter (`_csvcount.c`); `csvcount.py` holds the same rules in Python (`PyCounter`)."""

from typing_extensions import Buffer

class Counter:
    def __init__(
        self,
        delimiter: int = 44,
        quote: int = 34,
        escape: int = 34,
        skip_space: bool = False,
        marks: bool = False,
    ) -> None: ...
    def feed(self, chunk: Buffer, /) -> None: ...
    def finish(self) -> dict[str, int | bytes]: ...
    def take(self) -> bytes: ...
