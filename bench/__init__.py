"""ghcrawl's benchmark suite: ghcrawl and three peer designs against the same fakehub graph."""
