"""GitHub App settings, its signed JWTs and the installation tokens they buy.

An App's installation each has a primary budget of its own, so one App can
crawl faster than one account without anyone's personal token. The JWT rules
follow GitHub's "Generating a JSON Web Token (JWT) for a GitHub App": RS256,
``iat`` 60 s in the past for clock drift, ``exp`` at most 10 minutes ahead,
``iss`` the App's id or client id. The key is read once, at option time, and is
only ever held as a key object, never as text in a repr, log line or argv.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from attrs import define, field, frozen

from ghcrawl.config import APP_KEYS
from ghcrawl.credentials import Credential, short_hash
from ghcrawl.errors import AppConfigError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

#: Seconds ``iat`` is set in the past, as GitHub recommends, for clock drift.
CLOCK_DRIFT = 60
#: Seconds from ``iat`` to ``exp``: 8 minutes after now, inside GitHub's 10.
JWT_LIFETIME = 540
#: File systemd's ``LoadCredential=github-app-key:...`` puts in ``$CREDENTIALS_DIRECTORY``.
SYSTEMD_KEY_NAME = "github-app-key"


@frozen
class AppSettings:
    """The App's identity and key, and which of its installations to crawl with."""

    app_id: str
    key: RSAPrivateKey = field(repr=False)
    installations: tuple[int, ...] = ()
    key_file: str = ""


@define(eq=False)
class InstallationCredential(Credential):
    """An installation token: replaced before it expires, named by its installation.

    The name is the installation, not the token, so the pacer keeps one budget
    per installation and conditional-request validators outlive each token.
    """

    renewable: ClassVar[bool] = True
    installation_id: int = 0
    expires_at: float = 0.0

    @property
    def token_id(self) -> str:
        return f"installation-{self.installation_id}"

    @property
    def token_hash(self) -> str:
        """The short hash of the current token, for log lines about renewals."""
        return short_hash(self.token)


def sign_jwt(settings: AppSettings, now: float) -> str:
    """A JWT that authenticates as the App for the next few minutes."""
    import jwt  # only an App signs: a token-only run never loads it

    issued = int(now) - CLOCK_DRIFT
    claims = {"iat": issued, "exp": issued + JWT_LIFETIME, "iss": settings.app_id}
    return jwt.encode(claims, settings.key, algorithm="RS256")


def app_settings(values: Mapping[str, Any], env: Mapping[str, str], warnings: list[str]) -> AppSettings | None:
    """Read and check the App keys of the configuration; None when no App is configured."""
    app_id, key_file, installations = (values.get(k) for k in APP_KEYS)
    credentials_dir = env.get("CREDENTIALS_DIRECTORY")
    if app_id is None:
        if key_file is not None or installations is not None:
            raise AppConfigError("app_private_key_file and app_installations need app_id (the GitHub App's id)")
        return None
    if isinstance(app_id, bool) or not isinstance(app_id, int | str) or not str(app_id).strip() \
            or any(c.isspace() for c in str(app_id).strip()):
        raise AppConfigError(f"app_id must be the GitHub App's id or client id, not {app_id!r}")
    if key_file is None and credentials_dir and os.path.exists(os.path.join(credentials_dir, SYSTEMD_KEY_NAME)):
        key_file = os.path.join(credentials_dir, SYSTEMD_KEY_NAME)
    if key_file is None:
        raise AppConfigError("app_id needs app_private_key_file (the App's private key, a PEM file)")
    if not isinstance(key_file, str):
        raise AppConfigError(f"app_private_key_file must be a string, not {key_file!r}")
    key = load_key(key_file)
    _warn_if_shared(key_file, warnings)
    return AppSettings(str(app_id).strip(), key, _installations(installations), key_file)


def load_key(path: str) -> RSAPrivateKey:
    """The App's RSA private key from a PEM file; anything else is one line."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        with open(path, "rb") as f:
            pem = f.read()
    except OSError as e:
        raise AppConfigError(f"cannot read app_private_key_file {path}: {e.strerror}") from None
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as e:
        reason = "it needs a password" if "password" in str(e).lower() else "not a PEM private key"
        raise AppConfigError(f"app_private_key_file {path} is not an RSA private key ({reason})") from None
    except Exception:
        raise AppConfigError(f"app_private_key_file {path} is not an RSA private key (not a PEM private key)") from None
    if not isinstance(key, RSAPrivateKey):
        raise AppConfigError(f"app_private_key_file {path} is not an RSA private key (GitHub Apps sign with RS256)")
    return key


def _installations(value: Any) -> tuple[int, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not all(p.isdigit() for p in parts):
            raise AppConfigError(f"app_installations must be installation ids like 123,456, not {value!r}")
        value = [int(p) for p in parts]
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0
                                              for i in value):
        raise AppConfigError(f"app_installations must be a list of installation ids, not {value!r}")
    return tuple(dict.fromkeys(value))


def _warn_if_shared(path: str, warnings: list[str]) -> None:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if mode & 0o077:
        warnings.append(f"app_private_key_file {path} is readable by group or others (chmod 600 it)")
