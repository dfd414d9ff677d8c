"""One place that builds a `sodapy.Socrata` client from a portal name or URL.

sodapy builds every request URL as ``uri_prefix + domain + path`` and its prefix is always
``https://`` unless a ``session_adapter`` is given (sodapy/socrata.py, ``Socrata.__init__``).
So ``client("data.ct.gov")`` talks to https://data.ct.gov, and
``client("http://127.0.0.1:8000")`` mounts a plain HTTP adapter for the ``http://`` prefix:
the tests serve recorded responses from a local server that way, with no network.
"""
from __future__ import annotations

import logging
import os
from urllib.parse import urlsplit

import requests
from sodapy import Socrata

from ctopen import settings
from ctopen.errors import ConfigError


def split_portal(portal: str) -> tuple[str, str]:
    """``"data.ct.gov"`` -> ("https", "data.ct.gov"); ``"http://127.0.0.1:8000/"`` -> ("http", "127.0.0.1:8000")."""
    text = (portal or "").strip()
    if not text:
        raise ConfigError("No portal is set: give a portal such as data.ct.gov.")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"The portal address {portal!r} is not a web address such as data.ct.gov.")
    if parts.path.strip("/"):
        raise ConfigError(f"The portal address {portal!r} must be a site (such as data.ct.gov), not a page on it.")
    return parts.scheme, parts.netloc


def client(portal: str, app_token: str | None = None, username: str | None = None,
           password: str | None = None, timeout: float = 30) -> Socrata:
    """A sodapy client for ``portal`` (a domain such as ``data.ct.gov`` or a URL such as
    ``http://127.0.0.1:8000``). The app token defaults to $SOCRATA_APP_TOKEN; without one,
    requests work but are throttled by the portal."""
    scheme, domain = split_portal(portal)
    if bool(username) != bool(password):
        raise ConfigError("Portal sign-in needs both a username and a password (or neither).")
    token = app_token or os.environ.get(settings.SOCRATA_ENV["app_token"]) or None
    adapter = None
    if scheme == "http":
        adapter = {"prefix": "http://", "adapter": requests.adapters.HTTPAdapter()}
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)   # sodapy logs a warning on the root logger when there is no app token
    try:
        return Socrata(domain, token, username=username, password=password,
                       session_adapter=adapter, timeout=timeout)
    finally:
        logging.disable(previous)
