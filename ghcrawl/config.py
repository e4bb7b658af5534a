"""The frozen configuration: TOML file, then flags over it, then the environment for tokens.

Every problem becomes a ``ConfigError`` with one line naming the key and what is
wrong, so ``twistd ghcrawl`` fails before anything is created or sent.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from attrs import field, frozen

from ghcrawl.credentials import Credential
from ghcrawl.errors import ConfigError
from ghcrawl.models import valid_login

if TYPE_CHECKING:
    from ghcrawl.app_auth import AppSettings

#: Every key the TOML file may hold, with its type and default.
DEFAULTS: dict[str, Any] = {
    "db": "ghcrawl.sqlite",
    "api_url": "https://api.github.com",
    "seeds": [],
    "seeds_file": None,
    "max_depth": 1,
    "concurrency": 10,
    "grace": 10.0,
    "once": False,
    "token_file": None,
    "progress_interval": 10.0,
    "request_timeout": 30.0,
    "max_attempts": 5,
    "retry_base": 2.0,
    "retry_max": 600.0,
    "poll_interval": 5.0,
    "rate_limit_reserve": 0,
    "secondary_limit_wait": 60.0,
    "refresh_after": 604800.0,
    "ca_file": None,
    "status_endpoint": None,
    "log_format": "text",
    "personal_data": True,
    "optout_file": None,
    "lease_timeout": 60.0,
    "worker_name": None,
    "outage_probe_max": 60.0,
    "app_id": None,
    "app_private_key_file": None,
    "app_installations": None,
    "app_rescan_interval": 600.0,
    "max_body_bytes": 32 * 1024 * 1024,
}
_INTS = {"max_depth", "concurrency", "max_attempts", "rate_limit_reserve", "max_body_bytes"}
_FLOATS = {"grace", "progress_interval", "request_timeout", "retry_base", "retry_max",
           "poll_interval", "secondary_limit_wait", "refresh_after", "outage_probe_max", "lease_timeout",
           "app_rescan_interval"}
_PATHS = {"db", "seeds_file", "token_file", "ca_file", "optout_file"}
_BOOLS = ("once", "personal_data")
#: The keys that configure a GitHub App; with none set the App code is never loaded.
APP_KEYS = ("app_id", "app_private_key_file", "app_installations")
_STRINGS = {"api_url", "status_endpoint", "log_format", "worker_name"} | _PATHS


@frozen
class Config:
    """Everything a run needs, validated; tokens are held as Credentials, never printed."""

    db: str
    api_url: str
    seeds: tuple[str, ...]
    max_depth: int
    concurrency: int
    grace: float
    once: bool
    progress_interval: float
    request_timeout: float
    max_attempts: int
    retry_base: float
    retry_max: float
    poll_interval: float
    rate_limit_reserve: int
    secondary_limit_wait: float
    refresh_after: float
    ca_file: str | None
    status_endpoint: str | None
    log_format: str
    personal_data: bool = True
    optout_file: str | None = None
    outage_probe_max: float = 60.0
    lease_timeout: float = 60.0
    worker_name: str | None = None  # None: host:pid of the running daemon
    max_body_bytes: int = 32 * 1024 * 1024
    app_rescan_interval: float = 600.0
    credentials: tuple[Credential, ...] = field(repr=False, default=())
    app: AppSettings | None = field(repr=False, default=None)
    warnings: tuple[str, ...] = ()


def load(
    flags: Mapping[str, Any], env: Mapping[str, str], config_path: str | None = None
) -> Config:
    """Merge file and flags (flags win), check every value, find the tokens."""
    warnings: list[str] = []
    values = dict(DEFAULTS)
    if config_path is not None:
        # Relative paths in the file, like flags, are relative to the working directory.
        values.update(_read_toml(config_path, warnings))
    seeds = list(values["seeds"]) if isinstance(values["seeds"], list) else values["seeds"]
    for key, value in flags.items():
        if value is None:
            continue
        if key == "seeds":
            seeds = [*seeds, *value] if isinstance(seeds, list) else value
        else:
            values[key] = value
    values["seeds"] = seeds
    _coerce(values)
    seeds = _seeds(values)
    creds = _credentials(values.get("token_file"), env, warnings)
    app = _app(values, env, warnings)
    return Config(
        db=values["db"],
        api_url=_api_url(values["api_url"]),
        seeds=tuple(dict.fromkeys(seeds)),
        max_depth=_at_least("max_depth", values["max_depth"], 0),
        concurrency=_between("concurrency", values["concurrency"], 1, 100),
        grace=_at_least("grace", values["grace"], 0),
        once=bool(values["once"]),
        progress_interval=_at_least("progress_interval", values["progress_interval"], 0.1),
        request_timeout=_at_least("request_timeout", values["request_timeout"], 0.1),
        max_attempts=_at_least("max_attempts", values["max_attempts"], 1),
        retry_base=_at_least("retry_base", values["retry_base"], 0),
        retry_max=_at_least("retry_max", values["retry_max"], 0),
        poll_interval=_at_least("poll_interval", values["poll_interval"], 0.1),
        rate_limit_reserve=_at_least("rate_limit_reserve", values["rate_limit_reserve"], 0),
        secondary_limit_wait=_at_least("secondary_limit_wait", values["secondary_limit_wait"], 0),
        refresh_after=_at_least("refresh_after", values["refresh_after"], 0),
        ca_file=_readable("ca_file", values["ca_file"]),
        status_endpoint=values["status_endpoint"],
        log_format=_choice("log_format", values["log_format"], ("text", "json")),
        personal_data=values["personal_data"],
        optout_file=_readable("optout_file", values["optout_file"]),
        outage_probe_max=_at_least("outage_probe_max", values["outage_probe_max"], 1),
        lease_timeout=_at_least("lease_timeout", values["lease_timeout"], 1),
        worker_name=_worker_name(values["worker_name"]),
        max_body_bytes=_at_least("max_body_bytes", values["max_body_bytes"], 1024),
        app_rescan_interval=_at_least("app_rescan_interval", values["app_rescan_interval"], 1),
        credentials=tuple(creds),
        app=app,
        warnings=tuple(warnings),
    )


def _app(values: dict[str, Any], env: Mapping[str, str], warnings: list[str]) -> AppSettings | None:
    """The App settings, when any App key is set; None otherwise."""
    if all(values[key] is None for key in APP_KEYS):
        return None
    from ghcrawl.app_auth import app_settings

    return app_settings(values, env, warnings)


def _read_toml(path: str, warnings: list[str]) -> dict[str, Any]:
    import tomllib  # only a run with a config file parses TOML

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    unknown = sorted(set(data) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"config file {path}: unknown key {unknown[0]!r}")
    _warn_if_shared(path, "config file", warnings)
    return data


def _coerce(values: dict[str, Any]) -> None:
    for key in _INTS:
        values[key] = _number(key, values[key], int)
    for key in _FLOATS:
        values[key] = _number(key, values[key], float)
    for key in _STRINGS:
        if values[key] is not None and not isinstance(values[key], str):
            raise ConfigError(f"{key} must be a string, not {values[key]!r}")
    if isinstance(values["personal_data"], str) and values["personal_data"] in ("true", "false"):
        values["personal_data"] = values["personal_data"] == "true"  # the flag's spelling
    for key in _BOOLS:
        if not isinstance(values[key], bool):
            raise ConfigError(f"{key} must be true or false, not {values[key]!r}")


def _number(key: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool):
        raise ConfigError(f"{key} must be a number, not {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be {'an integer' if kind is int else 'a number'}, not {value!r}") from None


def _at_least(key: str, value: Any, low: float) -> Any:
    if value < low:
        raise ConfigError(f"{key} must be at least {low}, not {value}")
    return value


def _between(key: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ConfigError(f"{key} must be between {low} and {high}, not {value}")
    return value


def _choice(key: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _worker_name(name: str | None) -> str | None:
    if name is not None and not (0 < len(name) <= 100 and name.isprintable() and name.strip() == name):
        raise ConfigError(f"worker_name {name[:100]!r} must be 1 to 100 printable characters")
    return name


def _readable(key: str, path: str | None) -> str | None:
    if path is not None and not os.access(path, os.R_OK):
        raise ConfigError(f"{key} {path} is not a readable file")
    return path


def _api_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"api_url {url!r} is not an http(s) URL like https://api.github.com")
    try:
        _ = parts.port
    except ValueError:
        raise ConfigError(f"api_url {url!r} has an invalid port") from None
    return url.rstrip("/")


def _seeds(values: dict[str, Any]) -> list[str]:
    seeds = values["seeds"]
    if not isinstance(seeds, list) or not all(isinstance(s, str) for s in seeds):
        raise ConfigError("seeds must be a list of logins")
    seeds = [s.strip() for s in seeds]
    if values["seeds_file"]:
        try:
            with open(values["seeds_file"], encoding="utf-8") as f:
                lines = [line.split("#", 1)[0].strip() for line in f]
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read seeds file {values['seeds_file']}: {e}") from None
        seeds += [line for line in lines if line]
    for login in seeds:
        if not valid_login(login):
            raise ConfigError(f"invalid seed login {login[:60]!r}: not a GitHub login")
    return seeds


def _credentials(token_file: str | None, env: Mapping[str, str], warnings: list[str]) -> list[Credential]:
    """Tokens from the token file, systemd's credential, or the environment, in that order."""
    tokens: list[str] = []
    credentials_dir = env.get("CREDENTIALS_DIRECTORY")
    if token_file is None and credentials_dir and os.path.exists(os.path.join(credentials_dir, "github-token")):
        token_file = os.path.join(credentials_dir, "github-token")
    if token_file is not None:
        try:
            with open(token_file, encoding="utf-8") as f:
                tokens = [line.strip() for line in f if line.strip() and not line.startswith("#")]
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read token file {token_file}: {getattr(e, 'strerror', e)}") from None
        if not tokens:
            raise ConfigError(f"token file {token_file} holds no token")
        _warn_if_shared(token_file, "token file", warnings)
    elif env.get("GITHUB_TOKENS"):
        tokens = env["GITHUB_TOKENS"].replace(",", " ").split()
    elif env.get("GITHUB_TOKEN"):
        tokens = [env["GITHUB_TOKEN"].strip()]
    for token in tokens:
        if any(c.isspace() or not c.isprintable() for c in token):
            raise ConfigError("a token contains spaces or control characters")
    return [Credential(t) for t in dict.fromkeys(tokens)]


def _warn_if_shared(path: str, what: str, warnings: list[str]) -> None:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        advice = "chmod 600 it" if what == "token file" else "keep tokens out of it: use token_file or LoadCredential"
        warnings.append(f"{what} {path} is readable by group or others ({advice})")
