"""The SSRF guard: resolve, check and pin every outbound destination.

Every socket the hub opens to a user-supplied host goes through `guarded_create_connection`.
It resolves the name once, refuses any address that is not globally routable (loopback,
private, link-local and cloud metadata, multicast, reserved, unspecified, including the same
addresses hidden in IPv4-mapped, 6to4 and Teredo IPv6 forms, and decimal, octal or hex
spellings, which the resolver normalises before the check), then connects to exactly the
addresses it checked, so a second DNS answer cannot swap in another one (DNS rebinding).

Only settings.SSRF_ALLOWED_HOSTS opens a hole: "host" or "host:port" entries match the name as
written; CIDR entries ("10.1.0.0/16") match resolved addresses.
"""

from __future__ import annotations

import ipaddress
import re
import socket

from django.conf import settings
from urllib3.exceptions import LocationParseError
from urllib3.util import Url, parse_url

from connectors.errors import UNKNOWN_HOST_FIX, BlockedDestination, ConfigError

_IP = ipaddress.IPv4Address | ipaddress.IPv6Address


def _normalise_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _allow_entries():
    names, networks = set(), []
    for entry in settings.SSRF_ALLOWED_HOSTS or []:
        entry = entry.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry)
    return names, networks


def _embedded_ipv4(ip: _IP) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return ip.ipv4_mapped
        if ip.sixtofour:
            return ip.sixtofour
        if ip.teredo:
            return ip.teredo[1]
        # IPv4-compatible (deprecated) ::a.b.c.d
        if int(ip) >> 32 == 0 and int(ip) > 1:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: _IP) -> bool:
    inner = _embedded_ipv4(ip)
    if inner is not None and not is_public(inner):
        return False
    return ip.is_global and not (
        ip.is_multicast or ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_unspecified
    )


def resolve(host: str, port: int) -> list[tuple]:
    """getaddrinfo entries for host:port that the guard allows; raises BlockedDestination."""
    name = _normalise_host(host)
    if not name:
        raise ConfigError("No server address was given.", remediation="Enter the server's host name.")
    names, networks = _allow_entries()
    allowed_by_name = name in names or f"{name}:{port}" in names
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise ConfigError(f"The host name {name} could not be found.", remediation=UNKNOWN_HOST_FIX) from None
    allowed = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        if allowed_by_name or is_public(ip) or any(ip in net for net in networks):
            allowed.append(info)
        else:
            raise blocked(name, port, ip)
    return allowed


def blocked(name: str, port: int, ip: _IP) -> BlockedDestination:
    """The refusal in words: what the address is, and who can open a hole (only the operator can)."""
    try:
        written_as_ip = ipaddress.ip_address(name) == ip
    except ValueError:
        written_as_ip = False
    what = f"{name} is" if written_as_ip else f"{name} resolves to {ip},"
    entry = name if written_as_ip else f"{name} (or {name}:{port})"
    return BlockedDestination(
        f"{what} a private address ({_kind(ip)}); the hub never connects to a private or internal address "
        "unless its administrator allows it.",
        remediation=(
            "Use the server's public address. If the hub really must reach this server on a private network, "
            f"ask the hub's administrator to allow it: administrators add {entry} to the SSRF_ALLOWED_HOSTS "
            "setting and restart the hub."
        ),
    )


METADATA_ADDRESSES = {"169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200"}


def _kind(ip: _IP) -> str:
    inner = _embedded_ipv4(ip)
    if inner is not None and not is_public(inner):
        return f"an IPv6 spelling of {inner}, {_kind(inner)}"
    if str(ip) in METADATA_ADDRESSES:
        return "the cloud provider's metadata service"
    if ip.is_loopback:
        return "loopback: the hub's own machine"
    if ip.is_unspecified:
        return "the unspecified address, which means this machine"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "a private network"
    return "reserved, not reachable on the internet"


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def read_url(url: str, schemes=("http", "https")) -> Url:
    """The URL as the HTTP client will read it, or ValueError with what is wrong (a sentence that
    follows the field's label: "Webhook address must ...").

    requests hands URLs to urllib3's parse_url, which does not split them as urllib.parse does:
    "http://127.0.0.1:8000\\@example.com/hook" is host example.com to urlsplit but 127.0.0.1 to the
    client. Checking the host one parser sees and connecting to the one the other sees is how an
    address check gets bypassed, so the check reads the URL with the client's own parser, and
    refuses the spellings the parsers disagree on: backslashes and user:password@ before the host."""
    url = url or ""
    full = f"must be a full {' or '.join(f'{s}://' for s in schemes)} address."
    if "\\" in url:
        raise ValueError("must not contain a backslash (\\): write the address with forward slashes (/).")
    if _CONTROL.search(url):
        raise ValueError("must not contain line breaks or other control characters.")
    try:
        parts = parse_url(url)
    except LocationParseError:
        raise ValueError(full) from None
    if (parts.scheme or "").lower() not in schemes or not parts.host:
        raise ValueError(full)
    if parts.auth is not None or "@" in url.split("://", 1)[-1].split("/", 1)[0]:
        raise ValueError(
            "must not contain a user name or password before the host (user:password@host); "
            "enter credentials in their own fields."
        )
    return parts


def default_port(parts: Url) -> int:
    return parts.port or (443 if parts.scheme in ("https", "webcal") else 80)


def check_url_host(host: str, port: int) -> None:
    """Validate a destination up front (form validation), without connecting."""
    resolve(host, port)


def guarded_create_connection(
    address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None, socket_options=None
):
    """Drop-in for socket.create_connection that connects only to checked addresses."""
    host, port = address
    last_error: OSError | None = None
    for family, socktype, proto, _canon, sockaddr in resolve(host, port):
        sock = None
        try:
            sock = socket.socket(family, socktype, proto)
            for opt in socket_options or ():
                # urllib3-future (pulled in by caldav's niquests) labels options ("tcp"/"udp").
                if len(opt) > 3 and opt[3] != "tcp":
                    continue
                sock.setsockopt(*opt[:3])
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            last_error = exc
            if sock is not None:
                sock.close()
    raise last_error or OSError(f"could not connect to {host}:{port}")
