"""JSON bodies shaped exactly like GitHub's, field for field and in its order.

API links point at the fakehub's own base URL; ``html_url``, avatars and
clone URLs keep GitHub's web hosts because no client calls them as API.
"""

from __future__ import annotations

import base64
import random
import time
from typing import Any
from urllib.parse import quote

from ghcrawl.fakehub import names
from ghcrawl.fakehub.graph import Anonymous, Graph, Repo, User

_EPOCH_2008 = 1199145600
_SPAN = 15 * 365 * 86400
_NODE_TAGS = {"User": "04:User", "Organization": "012:Organization", "Bot": "03:Bot"}


def iso(seconds: float) -> str:
    """GitHub's timestamp format, always UTC with a Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _node(tag: str, number: int) -> str:
    return base64.b64encode(f"{tag}{number}".encode()).decode()


def user_times(graph: Graph, user: User) -> tuple[int, int]:
    """(created, updated) epoch seconds; updated moves with each mutation."""
    rng = random.Random(f"{graph.seed}:times:{user.index}")
    created = _EPOCH_2008 + int(rng.random() * _SPAN)
    return created, created + int(rng.random() * 3e7) + user.version * 86400


def repo_times(graph: Graph, repo: Repo) -> tuple[int, int, int]:
    """(created, updated, pushed) epoch seconds."""
    rng = random.Random(f"{graph.seed}:rtimes:{repo.id}")
    created = _EPOCH_2008 + int(rng.random() * _SPAN)
    pushed = created + int(rng.random() * 5e7) + repo.version * 3600
    return created, pushed + repo.version * 60, pushed


def simple_user(base: str, user: User) -> dict[str, Any]:
    """The ``simple-user`` schema: owners and contributor entries."""
    api = f"{base}/users/{quote(user.login, safe='')}"
    web = (f"https://github.com/apps/{user.login.removesuffix('[bot]')}"
           if user.kind == "Bot" else f"https://github.com/{user.login}")
    return {
        "login": user.login,
        "id": user.id,
        "node_id": _node(_NODE_TAGS[user.kind], user.id),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{user.id}?v=4",
        "gravatar_id": "",
        "url": api,
        "html_url": web,
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": user.kind,
        "site_admin": False,
    }


def public_email(user: User) -> str:
    """The address a user with a public e-mail shows (``--public-emails``)."""
    return f"{user.login.lower().removesuffix('[bot]')}.{user.id}@mail.example.net"


def public_user(base: str, graph: Graph, user: User, emails: bool = False) -> dict[str, Any]:
    """The ``public-user`` body of GET /users/{login}; e-mail hidden unless ``emails``."""
    rng = random.Random(f"{graph.seed}:profile:{user.index}:{user.version}")
    created, updated = user_times(graph, user)
    twitter = user.login.lower().replace("-", "_")[:15] if rng.random() < 0.2 else None
    return {
        **simple_user(base, user),
        "name": names.person_name(rng),
        "company": names.pick(rng, "company"),
        "blog": f"https://{user.login.lower()}.example.org" if rng.random() < 0.3 else "",
        "location": names.pick(rng, "location"),
        "email": public_email(user) if emails else None,
        "hireable": True if rng.random() < 0.1 else None,
        "bio": names.pick(rng, "bio"),
        "twitter_username": twitter,
        "public_repos": user.repo_count,
        "public_gists": int(rng.paretovariate(1.5)) - 1,
        "followers": int(rng.paretovariate(1.1)) - 1,
        "following": int(rng.paretovariate(1.3)) - 1,
        "created_at": iso(created),
        "updated_at": iso(updated),
    }


_REPO_TEMPLATES = (
    ("archive_url", "/{archive_format}{/ref}"), ("assignees_url", "/assignees{/user}"),
    ("blobs_url", "/git/blobs{/sha}"), ("branches_url", "/branches{/branch}"),
    ("collaborators_url", "/collaborators{/collaborator}"), ("comments_url", "/comments{/number}"),
    ("commits_url", "/commits{/sha}"), ("compare_url", "/compare/{base}...{head}"),
    ("contents_url", "/contents/{+path}"), ("contributors_url", "/contributors"),
    ("deployments_url", "/deployments"), ("downloads_url", "/downloads"),
    ("events_url", "/events"), ("forks_url", "/forks"),
    ("git_commits_url", "/git/commits{/sha}"), ("git_refs_url", "/git/refs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"), ("git_url", None),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("issue_events_url", "/issues/events{/number}"), ("issues_url", "/issues{/number}"),
    ("keys_url", "/keys{/key_id}"), ("labels_url", "/labels{/name}"),
    ("languages_url", "/languages"), ("merges_url", "/merges"),
    ("milestones_url", "/milestones{/number}"),
    ("notifications_url", "/notifications{?since,all,participating}"),
    ("pulls_url", "/pulls{/number}"), ("releases_url", "/releases{/id}"), ("ssh_url", None),
    ("stargazers_url", "/stargazers"), ("statuses_url", "/statuses/{sha}"),
    ("subscribers_url", "/subscribers"), ("subscription_url", "/subscription"),
    ("tags_url", "/tags"), ("teams_url", "/teams"), ("trees_url", "/git/trees{/sha}"),
    ("clone_url", None), ("mirror_url", None), ("hooks_url", "/hooks"), ("svn_url", None),
)


def repository(base: str, graph: Graph, repo: Repo, name: str) -> dict[str, Any]:
    """A ``minimal-repository`` with the optional fields the real API sends."""
    owner = graph.user(repo.owner)
    full = f"{owner.login}/{name}"
    api = f"{base}/repos/{full}"
    rng = random.Random(f"{graph.seed}:rbody:{repo.id}:{repo.version}")
    body: dict[str, Any] = {
        "id": repo.id,
        "node_id": _node("010:Repository", repo.id),
        "name": name,
        "full_name": full,
        "owner": simple_user(base, owner),
        "private": False,
        "html_url": f"https://github.com/{full}",
        "description": names.description(rng),
        "fork": repo.fork,
        "url": api,
    }
    web_urls = {"git_url": f"git://github.com/{full}.git", "ssh_url": f"git@github.com:{full}.git",
                "clone_url": f"https://github.com/{full}.git", "mirror_url": None,
                "svn_url": f"https://github.com/{full}"}
    for key, suffix in _REPO_TEMPLATES:
        body[key] = web_urls[key] if suffix is None else api + suffix
    stars = int(rng.paretovariate(0.9)) - 1
    created, updated, pushed = repo_times(graph, repo)
    body.update({
        "homepage": f"https://{owner.login.lower()}.example.org/{name}" if rng.random() < 0.2 else None,
        "language": names.pick(rng, "language"),
        "forks_count": stars // 7,
        "stargazers_count": stars,
        "watchers_count": stars,
        "size": rng.randint(0, 90_000) if repo.status != "empty" else 0,
        "default_branch": "main" if rng.random() < 0.7 else "master",
        "open_issues_count": rng.randint(0, 40),
        "is_template": False,
        "topics": names.topics(rng),
        "has_issues": True, "has_projects": True, "has_wiki": True, "has_pages": False,
        "has_downloads": True, "has_discussions": rng.random() < 0.1,
        "archived": rng.random() < 0.05, "disabled": False, "visibility": "public",
        "pushed_at": iso(pushed), "created_at": iso(created), "updated_at": iso(updated),
        "permissions": {"admin": False, "push": False, "pull": True},
        "security_and_analysis": {k: {"status": "disabled"} for k in (
            "advanced_security", "secret_scanning", "secret_scanning_push_protection",
            "secret_scanning_non_provider_patterns", "secret_scanning_delegated_alert_dismissal")},
    })
    return body


def contributor(base: str, user: User, contributions: int, emails: bool = False) -> dict[str, Any]:
    """A ``contributor`` entry: simple-user plus a count (and the optional ``email`` when public)."""
    extra = {"email": public_email(user)} if emails else {}
    return {**simple_user(base, user), **extra, "contributions": contributions}


def anonymous(entry: Anonymous) -> dict[str, Any]:
    """An anonymous entry: e-mail and name, no login or id."""
    return {"email": entry.email, "name": entry.name, "type": "Anonymous",
            "contributions": entry.contributions}
