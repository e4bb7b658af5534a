"""The classic design with the lightest stdlib client: urllib.request in N threads, one SQLite writer.

GITHUB_TOKEN=... python bench/peers/urllib_crawler.py --api-url URL --db X.sqlite --seed a [--concurrency 30]

Nothing but the standard library: ``urllib.request.urlopen`` (one connection per
request, as urllib does), ``json``, ``queue``, ``threading`` and ``sqlite3``.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Crawl, Rows, Task, arguments, headers, open_db, write  # noqa: E402

_RETRIES = 5
_TIMEOUT = 30


def fetch(url: str, sent: dict[str, str]) -> tuple[int, Any, str | None]:
    """Status, parsed body and Link header, waiting out rate limits and retrying 5xx."""
    for attempt in range(_RETRIES):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=sent), timeout=_TIMEOUT) as r:
                status, got, raw = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:  # urllib raises for every status >= 400
            status, got, raw = e.code, e.headers, e.read()
        if status in (403, 429) and got.get("x-ratelimit-remaining") == "0":
            reset = float(got.get("x-ratelimit-reset", time.time() + 1))
            time.sleep(min(60.0, max(0.1, reset - time.time())))
            continue
        if status >= 500:
            time.sleep(0.2 * 2**attempt)
            continue
        return status, json.loads(raw) if status == 200 else None, got.get("link")
    return 0, None, None


class UrllibCrawler:
    """N fetch threads share one crawl state under a lock; one thread owns the database."""

    def __init__(self, crawl: Crawl, token: str, db: str, threads: int) -> None:
        self.crawl = crawl
        self.headers = headers(token)
        self.db = db
        self.threads = threads
        self.lock = threading.Lock()
        self.work: queue.Queue[Task | None] = queue.Queue()
        self.rows: queue.Queue[Rows | None] = queue.Queue()

    def run(self) -> None:
        writer = threading.Thread(target=self._writer, name="writer")
        workers = [threading.Thread(target=self._worker, name=f"worker-{i}", daemon=True) for i in range(self.threads)]
        writer.start()
        for task in self.crawl.start():
            self.work.put(task)
        for w in workers:
            w.start()
        self.work.join()  # every task's follow-ups are queued before it is marked done
        for _ in workers:
            self.work.put(None)
        for w in workers:
            w.join(timeout=60)
        self.rows.put(None)
        writer.join(timeout=120)

    def _worker(self) -> None:
        while (task := self.work.get()) is not None:
            try:
                status, body, link = fetch(task.url, self.headers)
                with self.lock:
                    rows, tasks = self.crawl.handle(task, status, body, link)
                self.rows.put(rows)
                for t in tasks:
                    self.work.put(t)
            except Exception as e:  # one bad answer must not stall the queue
                print(f"urllib: {task.url}: {e!r}", file=sys.stderr)
            finally:
                self.work.task_done()

    def _writer(self) -> None:
        conn = open_db(self.db)
        pending = 0
        while (rows := self.rows.get()) is not None:
            write(conn, rows)
            pending += 1
            if pending >= 50 or self.rows.empty():
                conn.commit()
                pending = 0
        conn.commit()
        conn.close()


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    UrllibCrawler(Crawl(args.api_url, args.seed, args.max_depth), args.token, args.db, args.concurrency).run()


if __name__ == "__main__":
    main()
