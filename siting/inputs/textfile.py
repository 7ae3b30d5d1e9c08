"""Text files as planners save them: UTF-8 (Excel's 'CSV UTF-8' and Notepad add a byte-order mark) or GBK (Excel and
old Notepad on Chinese Windows save 'ANSI', which is GBK). One decoder for CSV layers and TOML project/profile files."""
from __future__ import annotations

from dataclasses import dataclass

#: Tried in this order; utf-8-sig reads UTF-8 with or without the byte-order mark, GB18030 is GBK's superset.
ENCODINGS = ("utf-8-sig", "gbk", "gb18030")


@dataclass
class Decoded:
    text: str
    encoding: str  # one of ENCODINGS
    first_non_utf8_line: int | None  # line (1 = first) of the first byte that is not UTF-8, when read as GBK


class Undecodable(Exception):
    """Neither UTF-8 nor GBK/GB18030: `first_bad` is the first bad line under each."""

    def __init__(self, first_bad: dict[str, int]) -> None:
        super().__init__(first_bad)
        self.first_bad = first_bad


def line_of(raw: bytes, offset: int) -> int:
    """The line (1 = first) holding byte `offset`."""
    return raw.count(b"\n", 0, offset) + 1


def decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def decode_text(raw: bytes) -> Decoded:
    """UTF-8 first (a byte-order mark is dropped); else GBK or GB18030. Undecodable when none of them reads it; the
    caller words the message (a CSV names rows, a TOML file lines)."""
    first_bad: dict[str, int] = {}
    for candidate in ENCODINGS:
        try:
            text = raw.decode(candidate)
        except UnicodeDecodeError as exc:
            first_bad[candidate] = line_of(raw, exc.start)
            continue
        return Decoded(text, candidate, first_bad.get("utf-8-sig"))
    raise Undecodable(first_bad)
