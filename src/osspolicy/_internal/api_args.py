"""How the API's functions read their arguments (`api.py`): a manifest given as an object,
a file's path or its keys; `resume=`; `credentials=` as access key objects.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .errors import ConfigError
from .keys import AccessKey
from .manifest import Manifest, accounts_of, load_manifest, parse_manifest

__all__ = ("access_keys", "given_manifest", "resume_value")


def given_manifest(given: object, actions: tuple[str, ...], name: str) -> Manifest:
    if isinstance(given, Manifest):
        return given
    if isinstance(given, str | os.PathLike):
        return load_manifest(Path(given))
    if not isinstance(given, Mapping):
        raise ConfigError(
            f"osspolicy.{name}() takes a Manifest, a manifest file's path or its keys as a "
            f"mapping, not a {type(given).__name__}",
            hint="osspolicy.load_manifest(path) reads a file",
        )
    data = dict(given)
    if len(actions) == 1:
        data.setdefault("action", actions[0])
    elif "action" not in data:  # a plan, check or audit of the job its keys describe
        implied = "restore" if "source" in data else "apply" if "policy" in data else None
        if implied is None and "backup" in actions:
            implied = "backup"  # an audit of targets only
        if implied in actions:
            data["action"] = implied
    return parse_manifest(data, source=f"osspolicy.{name}()", base=Path.cwd())


def resume_value(resume: str | bool | None) -> str | None:
    if resume is True:
        return "latest"
    return resume or None


def access_keys(manifest: Manifest, credentials: object) -> dict[str, AccessKey] | None:
    """Each account's access key given as an object; one for all, or by account name
    (a name the job does not have is refused: a typo would sign with another key)."""
    if credentials is None:
        return None
    names = [account.name for account in accounts_of(manifest)]
    if isinstance(credentials, AccessKey):
        return dict.fromkeys(names, credentials)
    if not isinstance(credentials, Mapping) or not all(
        isinstance(name, str) and isinstance(key, AccessKey) for name, key in credentials.items()
    ):  # never echoed: a tuple or a string here may hold a secret
        raise ConfigError(
            f"credentials= takes an AccessKey, or a mapping of account name to AccessKey, "
            f"not a {type(credentials).__name__} of other values",
            hint="osspolicy.AccessKey(access_key_id, access_key_secret)",
        )
    if unknown := sorted(set(credentials) - set(names)):
        raise ConfigError(
            f"credentials for account {', '.join(unknown)}, which the job does not have",
            hint=f"its accounts are {', '.join(names)}",
        )
    return dict(credentials)
