"""Peer crawlers: the same crawl as ghcrawl in three other designs, for comparison only."""
