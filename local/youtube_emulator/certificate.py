"""The emulator's TLS certificate: Google's endpoints are https (requests-oauthlib refuses anything else, and
googleapiclient sends uploads to https whatever the API endpoint's scheme), so the emulator serves TLS with
a certificate for 127.0.0.1 that is its own authority. A client trusts it by its file (`ca_certificate`):
`HTTPLIB2_CA_CERTS` for googleapiclient (read when httplib2 is imported), `REQUESTS_CA_BUNDLE` for
requests."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALIDITY: Final = datetime.timedelta(days=30)


@dataclass(frozen=True)
class Certificate:
    certificate: Path  # PEM; also the authority to trust
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certificate, self.key)
        return context


def certificate_for_loopback(directory: Path, host: str = "127.0.0.1") -> Certificate:
    """A certificate for `host` in `directory`, made once and kept while it has days left (a known authority
    across restarts of local mode)."""
    certificate_path, key_path = directory / "emulator-ca.pem", directory / "emulator-ca.key"
    if certificate_path.is_file() and key_path.is_file() and _days_left(certificate_path) > 1:
        return Certificate(certificate_path, key_path)
    directory.mkdir(parents=True, exist_ok=True)
    return write_self_signed_certificate(
        certificate_path,
        key_path,
        host,
        common_name=f"Playout YouTube emulator ({host})",
        valid_for=VALIDITY,
    )


def write_self_signed_certificate(
    certificate_path: Path, key_path: Path, host: str, *, common_name: str, valid_for: datetime.timedelta
) -> Certificate:
    """A certificate for `host` (an IP address or a DNS name) that is its own authority, written as PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + valid_for)
        .add_extension(x509.SubjectAlternativeName([_subject_name(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return Certificate(certificate_path, key_path)


def _subject_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _days_left(path: Path) -> float:
    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError:
        return 0.0
    return (certificate.not_valid_after_utc - datetime.datetime.now(datetime.UTC)).total_seconds() / 86400
