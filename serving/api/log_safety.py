"""One log line per record: control characters a client sent are escaped, never written raw.

A request path is percent-decoded before anything logs it, so ``GET /x%0a2026-12-04T17:00
[ERROR] ...`` puts a newline, and after it a forged line with its own timestamp and level,
into every log line that names the path (the API key refusal, BentoML's access log, its
``Exception on <path>`` records); ESC and NUL would reach a terminal or a log shipper raw.

:class:`ControlCharFilter` sits on the worker's log handlers, so every record, whoever
logs it and whatever argument carries the client's text, is formatted once and its
control characters (C0, DEL, C1, and the Unicode line and paragraph separators) are
written as escapes (``\\n``, ``\\x1b``, ``\\x00``, ``\\u2028``). Tracebacks are formatted
apart from the message and keep their lines.
"""

from __future__ import annotations

import logging

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]
ESCAPES = {
    code: _NAMED.get(chr(code), f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    for code in _CONTROLS
}
"""``str.translate`` table: each control character to its escape."""


def escape_controls(text: str) -> str:
    r"""``text`` with control characters written as escapes (``"a\nb"`` → ``"a\\nb"``)."""
    return text.translate(ESCAPES)


class ControlCharFilter(logging.Filter):
    """Escape control characters in a record's message (its arguments formatted in)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler's error path
            return True
        escaped = escape_controls(message)
        if escaped != message:
            record.msg, record.args = escaped, ()
        return True


def install_control_char_filter(*loggers: str) -> None:
    """Attach :class:`ControlCharFilter` (once) to the handlers of the root logger and
    of ``loggers`` (BentoML's own loggers do not propagate to the root)."""
    for name in ("", *loggers):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, ControlCharFilter) for f in handler.filters):
                handler.addFilter(ControlCharFilter())
