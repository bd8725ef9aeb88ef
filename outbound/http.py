"""Performs `call_http` commands (http steps and compensations) with aiohttp.

Whoever writes a workflow chooses the URL, so the request is guarded against reaching the
server's own network (SSRF): the host must be on the allowlist, and every address it resolves to
must be public unless the host or its address range is listed explicitly. Addresses are checked
by the connector's resolver at connect time, so a name that re-resolves to a private address
(DNS rebinding) is refused too; redirects are not followed, since a redirect could point anywhere.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from engine.commands import CallHttp, Command
from engine.errors import SecretUnreadable, TemplateError
from engine.ports import Failed, Outcome, Succeeded
from engine.secrets import Redactor, action_texts, read_only, referenced
from engine.templates import RawUrl, render, render_url, render_value

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024  # what a step output may hold of a response body
EXCERPT_CHARS = 200  # of a failed response's body, in the error message

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


# The setting (cli/settings.py) an operator changes to let a refused destination through.
SETTING = "OUTBOUND_ALLOWED_HOSTS"


class RefusedDestination(Exception):
    """The URL's host or one of its addresses is not allowed; the message says which setting
    would allow it."""


def _as_ip(text: str) -> IpAddress | None:
    try:
        ip = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _is_public(ip: IpAddress) -> bool:
    # is_global is False for loopback, private, link-local (incl. 169.254.169.254), unique-local,
    # unspecified and shared (100.64/10) ranges; multicast and reserved need their own check.
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


class HostPolicy:
    """The outbound allowlist. Entries: "api.example.com" (exact), "*.example.com" (any
    subdomain), "10.1.2.3" or "10.0.0.0/8" (addresses). An empty list allows any public host.
    Private addresses are allowed only for an exactly listed host or a listed address range."""

    def __init__(self, allowed_hosts: Sequence[str]) -> None:
        self._names: set[str] = set()
        self._suffixes: list[str] = []
        self._networks: list[IpNetwork] = []
        for raw in allowed_hosts:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            if entry.startswith("*."):
                self._suffixes.append(entry[1:])  # ".example.com"
                continue
            try:
                self._networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                self._names.add(entry)
        self._open = not (self._names or self._suffixes or self._networks)

    def _listed_address(self, ip: IpAddress) -> bool:
        return any(ip in net for net in self._networks)

    def check_host(self, host: str) -> None:
        """Refuse a host that the allowlist does not name (before any DNS lookup)."""
        name = host.lower().rstrip(".")
        ip = _as_ip(name)
        if ip is not None:
            if self._listed_address(ip):
                return
            if not _is_public(ip):
                raise RefusedDestination(
                    f"{host} is {_kind(ip)} address, called only when listed in {SETTING}"
                )
            if self._open:
                return
            raise RefusedDestination(_unlisted(host))
        if self._open or name in self._names or any(name.endswith(s) for s in self._suffixes):
            return
        raise RefusedDestination(_unlisted(host))

    def check_address(self, host: str, address: str) -> None:
        """Refuse a resolved address that is not public, unless listed."""
        ip = _as_ip(address)
        if ip is None:
            raise RefusedDestination(f"{host} resolved to {address!r}, which is not an address")
        if _is_public(ip) or self._listed_address(ip):
            return
        if host.lower().rstrip(".") in self._names:
            return
        raise RefusedDestination(
            f"{host} resolves to {address}, {_kind(ip)} address, called only when {host} (or "
            f"the address) is listed in {SETTING}"
        )


def _unlisted(host: str) -> str:
    return f"{host} is not on the outbound allowlist ({SETTING}); add it there to allow it"


def _kind(ip: IpAddress) -> str:
    """What kind of non-public address this is, with its article ("a loopback")."""
    if ip.is_loopback:
        return "a loopback"
    if ip.is_link_local:
        return "a link-local (cloud metadata)" if str(ip) == "169.254.169.254" else "a link-local"
    if ip.is_multicast:
        return "a multicast"
    if ip.is_unspecified:
        return "an unspecified"
    if isinstance(ip, ipaddress.IPv6Address) and ip in ipaddress.ip_network("fc00::/7"):
        return "a unique-local"
    if ip.is_private:
        return "a private"
    return "a non-public"


class GuardedResolver(AbstractResolver):
    """Resolves through `inner` and refuses the name if any address it gets is not allowed."""

    def __init__(self, policy: HostPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner or aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            self._policy.check_address(host, result["host"])
        return results

    async def close(self) -> None:
        await self._inner.close()


SessionFactory = Callable[[aiohttp.TCPConnector], aiohttp.ClientSession]


class SecretSource(Protocol):
    """Where a tenant's secrets come from (`engine.secrets.Secrets`)."""

    async def values(self, tenant_id: str, names: Collection[str] | None) -> Mapping[str, str]: ...


def _default_session(connector: aiohttp.TCPConnector) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=connector, trust_env=False)


class HttpHandler:
    """The `CommandHandler` for `call_http`. Renders url (inserted values percent-encoded),
    headers and json over the command's context plus `secrets` (a read-only mapping of the
    command's tenant's secrets, only those its templates name), sends `Idempotency-Key:
    <command.key>`, and reports the outcome in the terms of the step's retry policy ("timeout",
    "connection", "5xx", "429", a status), with every secret value it used replaced by
    `[secret NAME]` (a server may echo what it was sent)."""

    def __init__(
        self,
        *,
        secrets: SecretSource | None = None,
        allowed_hosts: Sequence[str] = (),
        resolver: AbstractResolver | None = None,
        session_factory: SessionFactory = _default_session,
        max_connections: int = 100,
    ) -> None:
        self._secrets = secrets
        self.policy = HostPolicy(allowed_hosts)
        self._resolver = resolver
        self._session_factory = session_factory
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._app: dict[str, str] = {}  # `app` in http templates: the app's own base URL
        self._own: set[tuple[str, str, int | None, str]] = set()

    def serve_own(self, base_url: str, paths: Sequence[str]) -> None:
        """Let http steps call exactly `base_url` + each of `paths` (the app's own demo
        endpoints: loopback, which the policy refuses otherwise) and give their templates
        `{{ app.url }}` = `base_url`. Nothing else on the app's address, or on loopback, opens;
        `base_url` must name an address (no DNS name to re-resolve)."""
        base = URL(base_url.rstrip("/"))
        if base.host is None or _as_ip(base.host) is None:
            raise ValueError(f"{base_url!r} must name the app by its address")
        self._app = {"url": RawUrl(str(base))}  # inserted as written, not percent-encoded
        self._own = {(base.scheme, base.host, base.port, path) for path in paths}

    def _is_own(self, url: URL) -> bool:
        """The URL is one of the app's own endpoints exactly (path normalised, no user)."""
        where = (url.scheme, url.host or "", url.port, url.raw_path)
        return url.user is None and where in self._own

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self.policy, self._resolver),
                limit=self._max_connections,
            )
            self._session = self._session_factory(connector)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def perform(self, command: Command) -> Outcome:
        if not isinstance(command, CallHttp):
            raise TypeError(f"HttpHandler performs call_http, not {command.type}")
        try:
            values = await self._secret_values(command)
        except SecretUnreadable as exc:
            return Failed(exc.message)
        hide = Redactor(values)
        try:
            outcome = await self._call(command, read_only(values), hide)
        except Exception as exc:
            if not hide:
                raise
            # The dispatcher logs what a handler raises: never with a secret in it.
            raise RuntimeError(hide.text(f"{type(exc).__name__}: {exc}")) from None
        if isinstance(outcome, Failed):
            outcome = Failed(hide.text(outcome.error), outcome.reason)
            log.info("call_http %s failed: %s", command.key, outcome.error)
        elif isinstance(outcome, Succeeded) and hide:
            outcome = Succeeded(hide.value(outcome.result))
        return outcome

    async def _secret_values(self, command: CallHttp) -> Mapping[str, str]:
        if self._secrets is None:
            return {}
        names = referenced(action_texts(command.action))
        if names is not None and not names:
            return {}
        return await self._secrets.values(command.tenant_id, names)

    async def _call(self, command: CallHttp, secrets: Mapping[str, str], hide: Redactor) -> Outcome:
        action = command.action
        context = {**command.context, "secrets": secrets}
        if self._app:
            context["app"] = self._app
        try:
            url = URL(render_url(action.url, context).strip())
            headers = {k: render(v, context) for k, v in action.headers.items()}
            body = render_value(action.json_body, context)
        except TemplateError as exc:
            return Failed(f"could not render the request: {exc.message}")
        except ValueError as exc:
            return Failed(f"the URL is not valid: {exc}")
        if url.scheme not in ("http", "https") or not url.host:
            plain = url.with_user(None) if url.host else url
            hint = ""
            if action.url.lstrip().startswith("{{"):
                hint = (
                    " (values in a url are percent-encoded: write {{ ... | raw_url }} for a "
                    "value that supplies the scheme and host)"
                )
            return Failed(f"{str(plain)[:100]!r} is not an http(s) URL{hint}")
        # Messages name the URL without credentials, query or fragment (they may hold secrets).
        shown = str(url.with_user(None).with_query(None).with_fragment(None))
        where = f"{action.method} {shown}"
        try:
            if not self._is_own(url):
                self.policy.check_host(url.host)
        except RefusedDestination as exc:
            return Failed(f"refused {where}: {exc}")
        headers["Idempotency-Key"] = command.key
        timeout = aiohttp.ClientTimeout(total=action.timeout.seconds)
        try:
            async with self._client().request(
                action.method,
                url,
                headers=headers,
                json=body,
                timeout=timeout,
                allow_redirects=False,
            ) as resp:
                raw = await _read_bounded(resp)
                status, content_type = resp.status, resp.content_type
        except RefusedDestination as exc:
            return Failed(f"refused {where}: {exc}")
        except TimeoutError:
            return Failed(f"{where} timed out after {action.timeout}", reason="timeout")
        except (aiohttp.InvalidURL, ValueError) as exc:  # e.g. a header value with a newline
            return Failed(f"{where} is not a valid request: {_scrub(exc, url, shown)}")
        except aiohttp.ClientError as exc:
            message = f"{where} could not connect: {_scrub(exc, url, shown)}"
            return Failed(message, reason="connection")
        response = _parse_body(raw, content_type, hide)
        if status in action.expect:
            return Succeeded({"status": status, "response": response})
        # Redacted before it is cut, so no secret is left half-shown at the cut.
        excerpt = hide.clip(raw.decode("utf-8", "replace"), EXCERPT_CHARS).strip()
        reason = "5xx" if 500 <= status <= 599 else str(status)
        message = f"{where} returned {status}" + (f": {excerpt}" if excerpt else "")
        return Failed(message, reason=reason)


def _scrub(exc: Exception, url: URL, shown: str) -> str:
    return str(exc).replace(str(url), shown)


async def _read_bounded(resp: aiohttp.ClientResponse) -> bytes:
    """The body, or its first MAX_RESPONSE_BYTES and a bit (enough to know it was longer)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(MAX_RESPONSE_BYTES):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            break
    return b"".join(chunks)


def _parse_body(raw: bytes, content_type: str, hide: Redactor) -> Any:
    """JSON when the body is JSON and complete; text otherwise, cut at MAX_RESPONSE_BYTES (with
    secrets redacted before the cut, as the read may have stopped halfway through one)."""
    if not raw:
        return None
    if len(raw) > MAX_RESPONSE_BYTES:
        cut = raw[:MAX_RESPONSE_BYTES].decode("utf-8", "replace")
        return hide.clip(raw.decode("utf-8", "replace"), len(cut)) + "…"
    text = raw.decode("utf-8", "replace")
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text
