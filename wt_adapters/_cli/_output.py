"""Writing to a terminal safely: control characters escaped, colour when it is wanted."""

from __future__ import annotations

import os
import re
import select
import sys
from typing import Optional, TextIO

#: C0 controls but tab and newline, DEL, and C1 controls: a terminal acts on them.
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_CONTROLS_BUT_NEWLINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_NAMES = {"\n": "\\n", "\r": "\\r", "\x1b": "\\e", "\x08": "\\b", "\x07": "\\a"}
#: Escaped so that output stays valid JSON (json.dumps leaves DEL and C1 raw).
_JSON_UNSAFE = re.compile(r"[\x7f-\x9f]")

COLOR_CHOICES = ("auto", "always", "never")


def _name(match: re.Match[str]) -> str:
    char = match.group(0)
    return _NAMES.get(char) or f"\\x{ord(char):02x}"


def escape(text: str, *, newlines: bool = False) -> str:
    """Show every control character a terminal would act on as an escape (``\\e``, ``\\x07``).

    With `newlines`, a newline stays a line break; otherwise it is shown as ``\\n``.
    """
    return (_CONTROLS_BUT_NEWLINE if newlines else _CONTROLS).sub(_name, text)


def escape_json(text: str) -> str:
    """Make JSON text terminal-safe and still valid: DEL and C1 as ``\\u`` escapes."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def use_color(choice: str, stream: Optional[TextIO] = None) -> bool:
    """Resolve --color: `auto` is on for a terminal, unless NO_COLOR is set or TERM is dumb."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    out = stream or sys.stdout
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def style(text: str, code: str, enabled: bool) -> str:
    """Wrap `text` in an SGR colour `code` when enabled."""
    return f"\x1b[{code}m{text}\x1b[0m" if enabled else text


def write_text(text: str) -> None:
    """Write to stdout and flush; characters its encoding lacks are shown as escapes."""
    out = sys.stdout
    try:
        out.write(text)
    except UnicodeEncodeError:
        encoding = getattr(out, "encoding", None) or "utf-8"
        out.write(text.encode(encoding, "backslashreplace").decode(encoding))
    out.flush()


def stdout_closed() -> bool:
    """Tell whether the reader of stdout went away (a closed pipe), without writing."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):
        return False
    poll = getattr(select, "poll", None)
    if poll is None:  # pragma: no cover - Windows
        return False
    poller = poll()
    poller.register(fd, select.POLLERR | select.POLLHUP)
    try:
        return any(
            events & (select.POLLERR | select.POLLHUP | select.POLLNVAL)
            for _, events in poller.poll(0)
        )
    except OSError:
        return True
