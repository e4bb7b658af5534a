"""asyncio + aiohttp under a semaphore; SQLite writes batched on the event loop.

GITHUB_TOKEN=... python bench/peers/aiohttp_crawler.py --api-url URL --db X.sqlite --seed a [--concurrency 30]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Crawl, Task, arguments, headers, open_db, write  # noqa: E402

_RETRIES = 5
_TIMEOUT = aiohttp.ClientTimeout(total=30)


async def fetch(session: aiohttp.ClientSession, url: str) -> tuple[int, Any, str | None]:
    """Status, parsed body and Link header, waiting out rate limits and retrying 5xx."""
    for attempt in range(_RETRIES):
        async with session.get(url) as r:
            if r.status in (403, 429) and r.headers.get("x-ratelimit-remaining") == "0":
                reset = float(r.headers.get("x-ratelimit-reset", time.time() + 1))
                await asyncio.sleep(min(60.0, max(0.1, reset - time.time())))
                continue
            if r.status >= 500:
                await asyncio.sleep(0.2 * 2**attempt)
                continue
            body = await r.json(content_type=None) if r.status == 200 else None
            return r.status, body, r.headers.get("link")
    return 0, None, None


async def crawl(args: Any) -> None:
    state = Crawl(args.api_url, args.seed, args.max_depth)
    conn = open_db(args.db)
    gate = asyncio.Semaphore(args.concurrency)
    running: set[asyncio.Task[None]] = set()
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(headers=headers(args.token), connector=connector, timeout=_TIMEOUT) as session:

        async def one(task: Task) -> None:
            try:
                async with gate:
                    status, body, link = await fetch(session, task.url)
                rows, tasks = state.handle(task, status, body, link)
                write(conn, rows)
                for t in tasks:
                    spawn(t)
            except Exception as e:  # one bad answer must not end the crawl
                print(f"aiohttp: {task.url}: {e!r}", file=sys.stderr)

        def spawn(task: Task) -> None:
            t = asyncio.ensure_future(one(task))
            running.add(t)
            t.add_done_callback(running.discard)

        for task in state.start():
            spawn(task)
        while running:
            await asyncio.wait(set(running), timeout=5)
            conn.commit()
    conn.commit()
    conn.close()


def main() -> None:
    asyncio.run(crawl(arguments(__doc__.splitlines()[0])))


if __name__ == "__main__":
    main()
