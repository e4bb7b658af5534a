from twisted.application.service import ServiceMaker

ghcrawl = ServiceMaker(
    "ghcrawl",
    "ghcrawl.tap",
    "Mirror a slice of GitHub's social graph (users, repositories, contributors) into SQLite.",
    "ghcrawl",
)
