"""The classic design: worker threads on a queue.Queue with requests, one SQLite writer thread.

GITHUB_TOKEN=... python bench/peers/threaded.py --api-url URL --db X.sqlite --seed a [--concurrency 30]
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Crawl, Rows, Task, arguments, headers, open_db, write  # noqa: E402

_RETRIES = 5
_TIMEOUT = 30


class Threaded:
    """N fetch threads share one crawl state under a lock; one thread owns the database."""

    def __init__(self, crawl: Crawl, token: str, db: str, threads: int) -> None:
        self.crawl = crawl
        self.token = token
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
        session = requests.Session()
        session.headers.update(headers(self.token))
        while (task := self.work.get()) is not None:
            try:
                status, body, link = self._fetch(session, task.url)
                with self.lock:
                    rows, tasks = self.crawl.handle(task, status, body, link)
                self.rows.put(rows)
                for t in tasks:
                    self.work.put(t)
            except Exception as e:  # one bad answer must not stall the queue
                print(f"threaded: {task.url}: {e!r}", file=sys.stderr)
            finally:
                self.work.task_done()
        session.close()

    def _fetch(self, session: requests.Session, url: str) -> tuple[int, object, str | None]:
        for attempt in range(_RETRIES):
            r = session.get(url, timeout=_TIMEOUT)
            if r.status_code in (403, 429) and r.headers.get("x-ratelimit-remaining") == "0":
                reset = float(r.headers.get("x-ratelimit-reset", time.time() + 1))
                time.sleep(min(60.0, max(0.1, reset - time.time())))
                continue
            if r.status_code >= 500:
                time.sleep(0.2 * 2**attempt)
                continue
            body = r.json() if r.status_code == 200 else None
            return r.status_code, body, r.headers.get("link")
        return 0, None, None

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
    Threaded(Crawl(args.api_url, args.seed, args.max_depth), args.token, args.db, args.concurrency).run()


if __name__ == "__main__":
    main()
