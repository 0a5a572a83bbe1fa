"""Where ``http`` templates may connect: not to the controller's own host or cloud metadata.

An ``http`` template is sent by the controller itself, from the controller's network
position. Unless the operator allows them (:attr:`~.settings.ControllerSettings.http_allow`,
addresses or networks in CIDR notation), requests to these destinations are refused:
loopback (``127.0.0.0/8``, ``::1``), link-local (``169.254.0.0/16`` with the cloud metadata
address ``169.254.169.254``, ``fe80::/10``), unspecified (``0.0.0.0``, ``::``) and
multicast addresses, IPv4-mapped IPv6 forms included. Private networks (``10.0.0.0/8``
...) are allowed. The name is resolved once per connection and the connection goes to
the address that was checked (a name cannot resolve to an allowed address for the check
and a refused one for the connection); redirects are checked the same way. Proxies
from the environment (``http_proxy`` ...) are not used: a proxy would connect for the
controller, unchecked.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.request
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class DestinationRefused(OSError):
    """The request's destination is one ``http`` templates may not reach."""


def parse_networks(texts: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or CIDR networks (``127.0.0.1``, ``10.1.0.0/16``); ``ValueError`` naming a bad one."""
    out: list[Network] = []
    for text in texts:
        try:
            out.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise ValueError(f"http allow: {text!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8)") from None
    return tuple(out)


def refusal(address: Address, allowed: tuple[Network, ...]) -> str | None:
    """Why *address* is refused, or ``None`` when a request may go there."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in net for net in allowed if net.version == address.version):
        return None
    if address.is_loopback:
        kind = "a loopback address (this host)"
    elif str(address) == "169.254.169.254":
        kind = "the cloud metadata address"
    elif address.is_link_local:
        kind = "a link-local address"
    elif address.is_unspecified:
        kind = "the unspecified address (this host)"
    elif address.is_multicast:
        kind = "a multicast address"
    else:
        return None
    return f"{address} is {kind}; http templates may not connect there unless the controller allows it (--http-allow)"


def checked_connection(host: str, port: int, timeout: float | None, allowed: tuple[Network, ...]) -> socket.socket:
    """A socket connected to the first allowed address of *host*; :class:`DestinationRefused`
    when every address it resolves to is refused."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    reason = None
    last: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        why = refusal(ipaddress.ip_address(sockaddr[0]), allowed)
        if why is not None:
            reason = reason or why
            continue
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not None:
                sock.settimeout(timeout)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        return sock
    if last is not None:
        raise last
    raise DestinationRefused(reason or f"{host} resolves to no address")


def opener(allowed: tuple[Network, ...]) -> urllib.request.OpenerDirector:
    """A urllib opener whose every connection (redirects too) is checked, with no proxies."""

    class Checked(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = checked_connection(self.host, self.port, self.timeout, allowed)

    class CheckedTLS(http.client.HTTPSConnection):
        def connect(self) -> None:
            sock = checked_connection(self.host, self.port, self.timeout, allowed)
            context: Any = self._context  # type: ignore[attr-defined]
            self.sock = context.wrap_socket(sock, server_hostname=self.host)

    class Handler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(Checked, req)

    class TLSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(CheckedTLS, req)

    return urllib.request.build_opener(urllib.request.ProxyHandler({}), Handler(), TLSHandler())
