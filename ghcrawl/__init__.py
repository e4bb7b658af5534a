"""ghcrawl: mirror a slice of GitHub's social graph into a database."""

__version__ = "0.1.0"
