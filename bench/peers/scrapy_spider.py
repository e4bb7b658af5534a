"""A Scrapy spider with an SQLite item pipeline, tuned the way Scrapy's broad-crawl docs suggest.

    GITHUB_TOKEN=... python bench/peers/scrapy_spider.py --api-url URL --db X.sqlite --seed a [--concurrency 30]

Our own Crawl state decides what is new, so every request sets dont_filter:
Scrapy's fingerprint filter would otherwise drop a legitimate page whose URL
it has seen (a redirect target, a page re-reached after a depth change).
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import scrapy
from scrapy.crawler import CrawlerProcess

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Crawl, Rows, Task, arguments, headers, open_db, write  # noqa: E402


class GitHubSpider(scrapy.Spider):
    name = "ghcrawl_peer"
    handle_httpstatus_list = [204, 403, 404, 451]

    def __init__(self, crawl_state: Crawl, token: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = crawl_state
        self.token = token

    def _request(self, task: Task) -> scrapy.Request:
        return scrapy.Request(
            task.url, callback=self.parse, dont_filter=True, cb_kwargs={"task": task}, headers=headers(self.token)
        )

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for task in self.state.start():
            yield self._request(task)

    def parse(self, response: Any, task: Task) -> Iterator[Any]:
        body = json.loads(response.body) if response.status == 200 else None
        link = response.headers.get("Link")
        rows, tasks = self.state.handle(task, response.status, body, link.decode() if link else None)
        yield {"rows": rows}
        for t in tasks:
            yield self._request(t)


class SQLitePipeline:
    """Writes each answer's rows on the reactor thread, committing in batches."""

    def __init__(self, db: str) -> None:
        self.db = db
        self.pending = 0

    @classmethod
    def from_crawler(cls, crawler: Any) -> SQLitePipeline:
        return cls(crawler.settings["BENCH_DB"])

    def open_spider(self, spider: Any = None) -> None:
        self.conn = open_db(self.db)

    def close_spider(self, spider: Any = None) -> None:
        self.conn.commit()
        self.conn.close()

    def process_item(self, item: dict[str, Rows], spider: Any = None) -> dict[str, Rows]:
        write(self.conn, item["rows"])
        self.pending += 1
        if self.pending >= 200:
            self.conn.commit()
            self.pending = 0
        return item


def settings(db: str, concurrency: int) -> dict[str, Any]:
    """Broad-crawl settings: high concurrency on one domain, no throttling, no cookies, no extras."""
    return {
        "BENCH_DB": db,
        "ITEM_PIPELINES": {f"{__name__}.SQLitePipeline": 300},
        "CONCURRENT_REQUESTS": concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "CONCURRENT_ITEMS": 100,
        "AUTOTHROTTLE_ENABLED": False,
        "DOWNLOAD_DELAY": 0,
        "RANDOMIZE_DOWNLOAD_DELAY": False,
        "DOWNLOAD_TIMEOUT": 30,
        "REACTOR_THREADPOOL_MAXSIZE": 20,
        "LOG_LEVEL": "INFO",
        "COOKIES_ENABLED": False,
        "ROBOTSTXT_OBEY": False,
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "RETRY_ENABLED": True,
        "RETRY_TIMES": 4,
        "RETRY_HTTP_CODES": [500, 502, 503, 504, 429],
        "REDIRECT_ENABLED": True,
        "AJAXCRAWL_ENABLED": False,
        "HTTPCACHE_ENABLED": False,
        "DEPTH_LIMIT": 0,  # our own depth rule, not Scrapy's link depth
        "DEPTH_PRIORITY": 1,  # breadth-first order, as the broad-crawl docs suggest
        "SCHEDULER_DISK_QUEUE": "scrapy.squeues.PickleFifoDiskQueue",
        "SCHEDULER_MEMORY_QUEUE": "scrapy.squeues.FifoMemoryQueue",
        "USER_AGENT": headers("")["User-Agent"],
    }


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    process = CrawlerProcess(settings(args.db, args.concurrency))
    process.crawl(GitHubSpider, crawl_state=Crawl(args.api_url, args.seed, args.max_depth), token=args.token)
    process.start()


if __name__ == "__main__":
    main()
