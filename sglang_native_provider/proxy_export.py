"""Trajectories out of the LiteLLM proxy: a default ledger that outlives it, and an authenticated export route.

Name ``sglang_native_provider.proxy_export.handler`` as the proxy's ``custom_handler`` (it is the provider's
``handler``). When the proxy loads it:

- the session ledger defaults to SQLite, ``./sglang-native-ledger.db`` in the directory the proxy started in,
  unless ``$SGLANG_NATIVE_SESSION_STORE`` (or a deployment's ``session_store``) names another store, so a
  proxy's trajectories outlive it and ``sglang-native sessions export`` reads them;
- the proxy serves ``GET /sglang_native/sessions/{session_id}/trajectories`` (the session's trajectories, one
  JSONL line each, as ``sglang-native sessions export`` writes them) and ``GET /sglang_native/sessions`` (the
  session ids), behind the proxy's own key check. The master key (and admin roles) read every session; any
  other key that LiteLLM lets through (a virtual key whose ``allowed_routes`` name these routes) reads only
  the turns recorded with its own key (``OWNER_FIELD`` of a ledger turn), and lists nothing.

LiteLLM has no documented hook for a deployment's own routes (``pass_through_endpoints`` forward to a URL,
``plugins`` to another service), so the routes are added to the proxy's FastAPI ``app`` when the proxy loads
this module: FastAPI is imported only then (it comes with the ``proxy`` extra, not with a plain install).
"""

import asyncio
import inspect
import io
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any

from .config import PROVIDER
from .provider import handler
from .sessions import LedgerTurn, SessionStore, StoreError, UnknownSessionError, open_store
from .trajectory import Trajectory, TrajectoryError

__all__ = [
    "ADMIN_ROLES",
    "DEFAULT_PROXY_STORE",
    "OWNER_FIELD",
    "ROUTE_PREFIX",
    "STORE_VARIABLE",
    "handler",
    "install_routes",
    "proxy_store_urls",
    "session_ids",
    "session_jsonl",
]

STORE_VARIABLE = "SGLANG_NATIVE_SESSION_STORE"
DEFAULT_PROXY_STORE = "sqlite://./sglang-native-ledger.db"
"""The proxy's ledger when nothing names one: an SQLite file in the directory the proxy was started in."""
OWNER_FIELD = "user_api_key_hash"
"""The ledger turn's attribute naming the proxy key that made it (LiteLLM's ``user_api_key_hash`` metadata)."""
ROUTE_PREFIX = f"/{PROVIDER}/sessions"
ADMIN_ROLES = frozenset({"proxy_admin", "proxy_admin_viewer"})
"""LiteLLM roles that read every session (the master key is ``proxy_admin``)."""
JSONL = "application/x-ndjson"
_PROXY_MODULE = "litellm.proxy.proxy_server"

logger = logging.getLogger(__name__)


class _OwnedTurns:
    """A read-only view of a store holding only the turns one proxy key recorded."""

    blocking = True

    def __init__(self, store: SessionStore, owner: str) -> None:
        self.url, self._store, self._owner = store.url, store, owner

    def turns(self, session_id: str) -> list[LedgerTurn]:
        owned = [turn for turn in self._store.turns(session_id) if getattr(turn, OWNER_FIELD, None) == self._owner]
        if not owned:
            raise UnknownSessionError(session_id)
        return owned


def proxy_store_urls(model_list: Iterable[Mapping[str, Any]] = ()) -> list[str]:
    """The session stores of the proxy's ``sglang_native`` deployments (each one's ``session_store``, else
    ``$SGLANG_NATIVE_SESSION_STORE``, else ``memory``), without repeats; the default store if there are none."""
    fallback = os.environ.get(STORE_VARIABLE) or "memory"
    urls = [
        (deployment.get("litellm_params") or {}).get("session_store") or fallback
        for deployment in model_list
        if str((deployment.get("litellm_params") or {}).get("model", "")).startswith(f"{PROVIDER}/")
    ]
    return list(dict.fromkeys(urls or [fallback]))


def session_jsonl(session_id: str, urls: Sequence[str], owner: str | None = None) -> str:
    """The session's trajectories as JSONL, from the first store that holds it (with ``owner``, only the turns
    recorded with that key). Raises UnknownSessionError, StoreError, TrajectoryError."""
    for url in urls:
        store = open_store(url)
        try:
            trajectories = Trajectory.from_session(session_id, store if owner is None else _OwnedTurns(store, owner))
        except UnknownSessionError:
            continue
        text = io.StringIO()
        for trajectory in trajectories:
            trajectory.write_jsonl(text)
        return text.getvalue()
    raise UnknownSessionError(session_id)


def session_ids(urls: Sequence[str]) -> list[str]:
    """Every session of the stores, oldest first per store, without repeats."""
    return list(dict.fromkeys(session for url in urls for session in open_store(url).sessions()))


def _model_list() -> list[Mapping[str, Any]]:
    router = getattr(sys.modules.get(_PROXY_MODULE), "llm_router", None)
    return list(getattr(router, "model_list", None) or ())


def _owner(key: Any) -> str | None:
    """None for a key that reads every session, else the identity its turns are recorded with (as LiteLLM
    writes ``user_api_key_hash`` into a request's metadata)."""
    role = getattr(key, "user_role", None)
    if getattr(role, "value", role) in ADMIN_ROLES:
        return None
    from litellm.proxy.litellm_pre_call_utils import LiteLLMProxyRequestSetup

    identity = LiteLLMProxyRequestSetup.get_logged_api_key(key)
    if not identity:
        raise _proxy_error(403, "auth_error", "this key has no identity its sessions could be recorded with")
    return identity


def _error(exc: Exception) -> tuple[int, str, str]:
    """The HTTP status, LiteLLM error type and message of a failed export."""
    if isinstance(exc, UnknownSessionError):
        return 404, "not_found_error", str(exc)
    if isinstance(exc, TrajectoryError):
        return 409, "conflict_error", str(exc)
    if isinstance(exc, (StoreError, ValueError)):
        return 503, "service_unavailable_error", str(exc)
    raise exc


def _proxy_error(status: int, kind: str, message: str) -> Exception:
    """An error the proxy answers as it answers its own (``{"error": {...}}`` with the status)."""
    from litellm.proxy._types import ProxyException

    return ProxyException(message=message, type=kind, param=None, code=status)


def _authenticate() -> Callable[..., Any]:
    """LiteLLM's key check (``user_api_key_auth``, with its own parameters), except that a key other than the
    master key on a proxy without a database is a 401, not LiteLLM's 400 "No connected db"."""
    from litellm.proxy.auth.user_api_key_auth import user_api_key_auth

    async def authenticate(**kwargs: Any) -> Any:
        try:
            return await user_api_key_auth(**kwargs)
        except Exception as exc:
            if getattr(getattr(exc, "type", None), "value", getattr(exc, "type", None)) != "no_db_connection":
                raise
            raise _proxy_error(401, "auth_error", "Authentication Error, invalid proxy key") from None

    authenticate.__signature__ = inspect.signature(user_api_key_auth, eval_str=True)  # type: ignore[attr-defined]
    return authenticate


async def _export(call: Callable[..., Any], *args: Any) -> Any:
    """Run a store read in a worker thread (stores do I/O); its failure as the proxy's error."""
    try:
        return await asyncio.to_thread(call, *args)
    except Exception as exc:
        raise _proxy_error(*_error(exc)) from None


def _router() -> Any:
    """The FastAPI router of the export routes, guarded by the proxy's key check (imported here: FastAPI and
    LiteLLM's proxy are present only in the proxy)."""
    from fastapi import APIRouter, Depends, Response

    router = APIRouter(tags=[PROVIDER])
    key_check = Annotated[Any, Depends(_authenticate())]

    @router.get(ROUTE_PREFIX + "/{session_id:path}/trajectories", response_class=Response)
    async def trajectories(session_id: str, key: key_check) -> Response:
        """A session's trajectories, one JSONL line each (as ``sglang-native sessions export`` writes them)."""
        text = await _export(session_jsonl, session_id, proxy_store_urls(_model_list()), _owner(key))
        return Response(content=text, media_type=JSONL)

    @router.get(ROUTE_PREFIX)
    async def sessions(key: key_check) -> dict[str, list[str]]:
        """The ids of the sessions in the proxy's ledger (for keys that read every session)."""
        if _owner(key) is not None:
            raise _proxy_error(403, "auth_error", "listing the sessions needs the master key or an admin role")
        return {"sessions": await _export(session_ids, proxy_store_urls(_model_list()))}

    return router


def install_routes(app: Any) -> None:
    """Add the export routes to the proxy's FastAPI ``app`` (once)."""
    if not any(getattr(route, "path", "") == ROUTE_PREFIX for route in app.routes):
        app.include_router(_router())


def _in_proxy() -> None:
    """Inside a LiteLLM proxy (loading this module as its ``custom_handler``): default the ledger to SQLite and
    serve the export routes. Elsewhere, importing this module changes nothing."""
    proxy = sys.modules.get(_PROXY_MODULE)
    if proxy is None or getattr(proxy, "app", None) is None:
        return
    os.environ.setdefault(STORE_VARIABLE, DEFAULT_PROXY_STORE)
    try:
        install_routes(proxy.app)
    except Exception as exc:  # a LiteLLM whose proxy changed: serve the model all the same, say what is missing
        logger.warning("%s: the trajectory export routes %s are not served: %r", PROVIDER, ROUTE_PREFIX, exc)


_in_proxy()
