"""``--log-format json``: one JSON object per line, for journald, Loki and friends."""

from __future__ import annotations

import json
import sys
import time
from typing import IO, Any

from twisted.logger import ILogObserver, formatEvent
from zope.interface import implementer

#: Where ``json_observer`` writes: None for standard output, else a file path.
destination: str | None = None
_SKIP = {"format", "message", "system", "isError", "time", "why", "failure", "log_trace"}


@implementer(ILogObserver)
class JsonLineObserver:
    """Writes each event as one line: time, level, namespace, message and its own fields."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out

    def __call__(self, event: dict[str, Any]) -> None:
        stamp = event.get("log_time", time.time())
        level = event.get("log_level")
        record: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp)) + f".{int(stamp * 1000) % 1000:03d}Z",
            "level": getattr(level, "name", "info"),
            "namespace": event.get("log_namespace", ""),
            "message": formatEvent(event),
        }
        failure = event.get("log_failure")
        if failure is not None:
            record["traceback"] = failure.getTraceback()
        for key, value in event.items():
            if not key.startswith("log_") and key not in _SKIP:
                record.setdefault(key, value)
        self._out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._out.flush()


def json_observer() -> JsonLineObserver:
    """The observer factory twistd's ``--logger`` option takes (set by ``--log-format json``)."""
    if destination is None:
        return JsonLineObserver(sys.stdout)
    return JsonLineObserver(open(destination, "a", encoding="utf-8"))  # noqa: SIM115 - lives as long as the process
