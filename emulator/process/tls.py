"""TLS mode: HTTPS with a certificate from the emulator's own local CA, or the user's own.

`@orga-ai/core` hard-codes `https://api.orga-ai.com/v1/realtime/calls`, so an app under test
reaches the emulator only by mapping that name to it, and then the name needs a certificate the
client accepts. The CA lives in a directory that survives restarts (created once, reused after),
so a user trusts it once; the server certificate is issued afresh at every start, for
`localhost`, `127.0.0.1`, `api.orga-ai.com` and any `--tls-name`.

Built on `cryptography` (already a dependency of aiortc), so TLS mode needs nothing extra.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import fcntl
import hashlib
import ipaddress
import os
import ssl
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from emulator.config import Settings
from emulator.net import ORGA_API_HOST, reachable_host

DEFAULT_NAMES = ("localhost", "127.0.0.1", ORGA_API_HOST)
CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
CERT_FILE = "server.pem"
KEY_FILE = "server-key.pem"
CA_LIFETIME = datetime.timedelta(days=3650)
# Under the 398 days browsers allow a leaf, though a local CA is exempt: no surprises either way.
LEAF_LIFETIME = datetime.timedelta(days=397)
# A restart within this much of the leaf's start would still see a clock-skewed client reject it.
BACKDATE = datetime.timedelta(hours=1)


class TlsError(Exception):
    """TLS mode cannot start: unreadable files, a key that does not match, ..."""


def default_tls_dir() -> Path:
    """`$XDG_DATA_HOME/orga-emulator/tls`, i.e. `~/.local/share/orga-emulator/tls` by default."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "orga-emulator" / "tls"


@dataclass(frozen=True)
class TlsMaterial:
    """What the server loads and what a client needs to trust it."""

    cert_path: Path
    key_path: Path
    ca_path: Path | None  # None with the user's own certificate
    names: tuple[str, ...]
    spki_sha256: str  # base64 SHA-256 of the server certificate's public key (SPKI)
    context: ssl.SSLContext  # loaded already: the files may be reissued by another start


def prepare_tls(
    tls_dir: Path | None,
    extra_names: Iterable[str] = (),
    cert: str | None = None,
    key: str | None = None,
) -> TlsMaterial:
    """The user's certificate if given, else a fresh leaf from the (kept) local CA."""
    if cert or key:
        if not (cert and key):
            raise TlsError("--tls-cert and --tls-key go together")
        return _own_certificate(Path(cert), Path(key))
    directory = tls_dir or default_tls_dir()
    names = tuple(dict.fromkeys([*DEFAULT_NAMES, *extra_names]))
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TlsError(f"cannot create {directory}: {exc}") from None
    # Two emulators starting at once with one directory must agree on one CA, and each must
    # load the leaf it wrote: the whole step runs under a lock on the directory.
    with _locked(directory / ".lock"):
        ca_cert, ca_key = load_or_create_ca(directory)
        cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
        # The server key is kept too, so the SPKI hash a browser was told to accept stays valid.
        leaf_key = _load_key(key_path) or ec.generate_private_key(ec.SECP256R1())
        leaf = issue_leaf(ca_cert, ca_key, names, leaf_key)
        _write_private(key_path, _key_pem(leaf_key))
        _write_atomically(
            cert_path,
            leaf.public_bytes(serialization.Encoding.PEM)
            + ca_cert.public_bytes(serialization.Encoding.PEM),
        )
        context = _server_context(cert_path, key_path)
    return TlsMaterial(cert_path, key_path, directory / CA_FILE, names, spki_sha256(leaf), context)


def load_or_create_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The CA in `directory`, created on first use and reused after, so it is trusted once."""
    ca_path, key_path = directory / CA_FILE, directory / CA_KEY_FILE
    if ca_path.exists() and key_path.exists():
        try:
            ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
            ca_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise TlsError(f"cannot read the CA in {directory}: {exc}") from None
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey) or _spki(ca_key) != _spki(ca_cert):
            raise TlsError(f"{key_path} does not match {ca_path}")
        if ca_cert.not_valid_after_utc > _now():
            return ca_cert, ca_key
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "orga-emulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, "orga-emulator local CA"),
        ]
    )
    now = _now()
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(ca_key))
    _write_atomically(ca_path, ca_cert.public_bytes(serialization.Encoding.PEM))
    return ca_cert, ca_key


def issue_leaf(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    names: Sequence[str],
    key: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    """A server certificate for `key` and `names` (DNS names or IPs), signed by the CA."""
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "orga-emulator"),
                    x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + LEAF_LIFETIME, ca_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert


def spki_sha256(cert: x509.Certificate) -> str:
    """What Chromium's `--ignore-certificate-errors-spki-list` wants for this certificate."""
    return base64.b64encode(hashlib.sha256(_spki(cert)).digest()).decode()


def client_hints(material: TlsMaterial, host: str, port: int) -> list[str]:
    """How to point Chromium and Node at the emulator: printed at startup."""
    lines = []
    if material.ca_path:
        lines.append(f"TLS CA: {material.ca_path} (trust it once; it is kept across restarts)")
    lines += [
        f"TLS names: {', '.join(material.names)}",
        "Chromium: --host-resolver-rules="
        f'"MAP {ORGA_API_HOST}:443 {host}:{port}" '
        f"--ignore-certificate-errors-spki-list={material.spki_sha256}",
        f"Node: NODE_EXTRA_CA_CERTS={material.ca_path or material.cert_path}",
    ]
    return lines


def _own_certificate(cert: Path, key: Path) -> TlsMaterial:
    try:
        leaf = x509.load_pem_x509_certificates(cert.read_bytes())[0]
    except (OSError, ValueError, IndexError) as exc:
        raise TlsError(f"cannot read {cert}: {exc}") from None
    try:
        names = tuple(
            str(n)
            for n in leaf.extensions.get_extension_for_class(
                x509.SubjectAlternativeName
            ).value.get_values_for_type(x509.DNSName)
        )
    except x509.ExtensionNotFound:
        names = ()
    return TlsMaterial(cert, key, None, names, spki_sha256(leaf), _server_context(cert, key))


def _server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"cannot load {cert} / {key}: {exc}") from None
    return context


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey | None:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError):
        return None
    return key if isinstance(key, ec.EllipticCurvePrivateKey) else None


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _spki(obj: x509.Certificate | ec.EllipticCurvePrivateKey) -> bytes:
    public = obj.public_key()
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    """Written 0600 from the start: a private key is never readable by others, even briefly."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    tmp.replace(path)


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def tls_wanted(settings: Settings) -> bool:
    """`--tls`, or implied by the user's own certificate."""
    return bool(settings.tls or settings.tls_cert or settings.tls_key)


def tls_for(settings: Settings) -> TlsMaterial | None:
    """The TLS material `settings` ask for, or None for plain HTTP."""
    if not tls_wanted(settings):
        return None
    tls_dir = Path(settings.tls_dir).expanduser() if settings.tls_dir else None
    # The address the startup line prints is covered too (this machine's, on a wildcard bind).
    names = (*settings.tls_names, reachable_host(settings.host))
    return prepare_tls(tls_dir, names, settings.tls_cert, settings.tls_key)
