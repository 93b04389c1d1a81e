"""DQOps's REST client as the lakehouse uses it (the dqops_checks operator and the
dqops_results job): the pinned `dqops` package's client, with the API key when one is set."""

from __future__ import annotations


def client(url: str, api_key, timeout_seconds: float):
    """DQOps's client; statuses are checked by the caller (the generated client knows 200 only)."""
    import httpx
    from dqops.client import AuthenticatedClient, Client

    timeout = httpx.Timeout(timeout_seconds)
    if api_key is not None:
        return AuthenticatedClient(base_url=url, token=api_key.get_secret_value(), timeout=timeout)
    # Without a key, no Authorization header: a DQOps server without authentication needs none.
    return Client(base_url=url, timeout=timeout)
