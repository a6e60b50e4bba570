"""Which network addresses Playout may connect to on a user's behalf (RTMP ingests, media imports).

An SSRF filter: a host is refused when any address it resolves to is not on the public internet, so a
user cannot point the stream task at its task metadata endpoint (169.254.170.2), the VPC or loopback. The
refusal never says whether anything listens there: the error stored on a stream must not become a port
scanner's oracle. Standard library only, so every runtime can use it.
"""

from __future__ import annotations

import ipaddress
import socket

from playout.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IANA's IPv4 special-purpose registry (RFC 6890 and successors), spelt out rather than read from
# ipaddress's is_private/is_global, whose tables changed between Python 3.11 and 3.12.
_REFUSED_V4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network", incl. the unspecified 0.0.0.0
        "10.0.0.0/8",  # private (RFC 1918)
        "100.64.0.0/10",  # carrier-grade NAT (RFC 6598)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local: instance metadata 169.254.169.254, ECS task metadata 169.254.170.2
        "172.16.0.0/12",  # private (RFC 1918)
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation (TEST-NET-1)
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",  # private (RFC 1918)
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation (TEST-NET-2)
        "203.0.113.0/24",  # documentation (TEST-NET-3)
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. the broadcast 255.255.255.255
    )
)
_LOOPBACK_V4 = ipaddress.IPv4Network("127.0.0.0/8")

# IPv6 is an allow list: only global unicast (2000::/3) can be public. That alone refuses ::, ::1, the
# IPv4-compatible ::/96, 100::/64 (discard), 64:ff9b:1::/48 (local NAT64), fc00::/7 (unique local),
# fe80::/10 (link-local), fec0::/10 (site-local) and ff00::/8 (multicast).
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_REFUSED_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "2001::/23",  # IETF protocol assignments: Teredo 2001::/32 (tunnels to any IPv4), ORCHID, ...
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4: an IPv4 address, private ones included, wrapped in IPv6
        "3fff::/20",  # documentation (RFC 9637)
    )
)
# The well-known NAT64 prefix: a DNS64 resolver (an IPv6-only VPC) answers public IPv4 hosts with it, so
# it is judged by the IPv4 address it carries.
_NAT64_V6 = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeAddress(InvalidInput):
    """The host is, or resolves to, an address that is not on the public internet."""


class UnresolvableHost(InvalidInput):
    """The host name has no address (or the resolver failed): often worth retrying later."""


def parse_ip(host: str) -> IPAddress | None:
    """The IP address a URL host spells in standard notation (IPv6 with or without brackets), else None."""
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(literal)
    except ValueError:
        return None


def is_public(ip: IPAddress | str, *, allow_loopback: bool = False) -> bool:
    address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(address, ipaddress.IPv4Address):
        if allow_loopback and address in _LOOPBACK_V4:
            return True
        return not any(address in net for net in _REFUSED_V4)
    if address.scope_id:
        return False  # a zone (fe80::1%eth0) only means something on this machine's own links
    if allow_loopback and address == ipaddress.IPv6Address("::1"):
        return True
    if address.ipv4_mapped is not None:
        return is_public(address.ipv4_mapped, allow_loopback=allow_loopback)
    if address in _NAT64_V6:
        return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return address in _GLOBAL_UNICAST_V6 and not any(address in net for net in _REFUSED_V6)


def check_public_address(ip: IPAddress | str, *, allow_loopback: bool = False) -> IPAddress:
    """The address itself when it is public, else UnsafeAddress. `allow_loopback` also admits 127.0.0.0/8
    and ::1 (local mode, whose RTMP server runs on this machine)."""
    address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if not is_public(address, allow_loopback=allow_loopback):
        raise UnsafeAddress(
            f"{_shown(str(ip))} is not a public internet address; only public hosts are allowed"
        )
    return address


def resolve_public(host: str, port: int | None, *, allow_loopback: bool) -> list[str]:
    """Every address `host` resolves to (IPv4 and IPv6), each of them public, in the resolver's order.

    One address that is not public refuses the whole host: the client that connects next (ffmpeg,
    an HTTP session) may pick any of them. Call it right before each connection, as DNS may change.
    """
    literal = parse_ip(host)
    if literal is not None:
        return [str(check_public_address(literal, allow_loopback=allow_loopback))]
    if not host:
        raise UnresolvableHost("a host is required")
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError):
        # gaierror is an OSError; UnicodeError comes from IDNA encoding of an over-long label.
        raise UnresolvableHost(f"host {_shown(host)} could not be resolved") from None
    addresses: list[str] = []
    for family, _type, _proto, _canonname, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        try:
            address: IPAddress | None = ipaddress.ip_address(str(sockaddr[0]))
        except ValueError:
            address = None
        # A scope id (fe80::1%eth0) names one of this machine's own links: never a public host.
        scoped = family == socket.AF_INET6 and len(sockaddr) >= 4 and bool(sockaddr[3])
        if address is None or scoped or not is_public(address, allow_loopback=allow_loopback):
            # The address found stays unsaid: the message must not map a user's names onto the network.
            raise UnsafeAddress(
                f"host {_shown(host)} resolves to an address that is not on the public internet; "
                "only public hosts are allowed"
            )
        if str(address) not in addresses:
            addresses.append(str(address))
    if not addresses:
        raise UnresolvableHost(f"host {_shown(host)} could not be resolved")
    return addresses


def _shown(host: str) -> str:
    """A host as an error message may quote it: printable ASCII only, bounded."""
    cleaned = "".join(c if " " < c <= "~" else "?" for c in host)
    return cleaned if len(cleaned) <= 80 else cleaned[:77] + "..."
