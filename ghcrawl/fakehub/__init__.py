"""An offline, deterministic fake of the GitHub REST API for tests and benchmarks."""

from ghcrawl.fakehub.graph import Graph
from ghcrawl.fakehub.hub import FakeHub
from ghcrawl.fakehub.knobs import Knobs
from ghcrawl.fakehub.truth import truth

__all__ = ["FakeHub", "Graph", "Knobs", "truth"]
