"""TLS mode: HTTPS with a certificate from the emulator's own local CA, or the user's own.

`@orga-ai/core` hard-codes `https://api.orga-ai.com/v1/realtime/calls`, so an app under test
reaches the emulator only by mapping that name to it, and then the name needs a certificate the
client accepts: the user trusts the emulator's CA. A trusted CA is a standing risk, so this one
can sign for nothing but the emulator's own names (X.509 Name Constraints, critical), lives
30 days, and its private key is never written anywhere: it signs the server certificate (for
`localhost`, `127.0.0.1`, `api.orga-ai.com`, the announced address and any `--tls-name`) the
moment it is made, and is gone. Both are kept in the TLS directory and reused by later starts
while they cover the same names and have a day left; otherwise a new CA replaces them, which
the user trusts again. The server's key is kept too, so an SPKI pin stays valid.

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
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from emulator.config import Settings
from emulator.net import ORGA_API_HOST, reachable_host

DEFAULT_NAMES = ("localhost", "127.0.0.1", ORGA_API_HOST)
CA_FILE = "ca.pem"
# Where versions before the name-constrained CA kept its key: deleted on sight.
LEGACY_CA_KEY_FILE = "ca-key.pem"
CERT_FILE = "server.pem"
KEY_FILE = "server-key.pem"
CA_LIFETIME = datetime.timedelta(days=30)
# A kept CA this close to its end is replaced at start, so a session never sees it expire.
RENEW_BEFORE = datetime.timedelta(days=1)
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
    ca_expires: datetime.datetime | None = None  # the local CA's end; None with the user's own


def prepare_tls(
    tls_dir: Path | None,
    extra_names: Iterable[str] = (),
    cert: str | None = None,
    key: str | None = None,
) -> TlsMaterial:
    """The user's certificate if given, else the local CA's: kept from an earlier start while
    still good for these names, or issued now with a new CA."""
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
        cert_path, key_path, ca_path = (directory / f for f in (CERT_FILE, KEY_FILE, CA_FILE))
        leaf_key = _load_key(key_path)
        if leaf_key is None:
            leaf_key = ec.generate_private_key(ec.SECP256R1())
            _write_private(key_path, _key_pem(leaf_key))
        chain = _kept_chain(directory, names, leaf_key)
        if chain is None:
            chain = issue_chain(names, leaf_key)
            _write_atomically(ca_path, _cert_pem(chain[1]))
            _write_atomically(cert_path, _cert_pem(chain[0]) + _cert_pem(chain[1]))
        # An older version's CA key could sign for any name: it goes, with the CA it belonged to.
        (directory / LEGACY_CA_KEY_FILE).unlink(missing_ok=True)
        context = _server_context(cert_path, key_path)
    leaf, ca = chain
    return TlsMaterial(
        cert_path, key_path, ca_path, names, spki_sha256(leaf), context, ca.not_valid_after_utc
    )


def issue_chain(
    names: Sequence[str], leaf_key: ec.EllipticCurvePrivateKey
) -> tuple[x509.Certificate, x509.Certificate]:
    """A new CA for `names` only and the server certificate it signs; the CA's key is dropped
    here, so nothing can sign with it again."""
    ca_cert, ca_key = new_ca(names)
    return issue_leaf(ca_cert, ca_key, names, leaf_key), ca_cert


def new_ca(names: Sequence[str]) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A CA that may sign for `names` only (critical Name Constraints), for CA_LIFETIME."""
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
        .add_extension(name_constraints(names), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    return ca_cert, ca_key


def name_constraints(names: Iterable[str]) -> x509.NameConstraints:
    """Permitted subtrees: each DNS name (and its subdomains, as RFC 5280 reads a DNS subtree)
    and each IP address alone. A certificate for any other name fails verification."""
    subtrees: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            subtrees.append(x509.IPAddress(ipaddress.ip_network(name)))
        except ValueError:
            subtrees.append(x509.DNSName(name.removeprefix("*.")))  # a subtree has no wildcard
    return x509.NameConstraints(permitted_subtrees=subtrees, excluded_subtrees=None)


def _kept_chain(
    directory: Path, names: Sequence[str], leaf_key: ec.EllipticCurvePrivateKey
) -> tuple[x509.Certificate, x509.Certificate] | None:
    """The server certificate and CA of an earlier start, if still good for `names`."""
    try:
        leaf = x509.load_pem_x509_certificates((directory / CERT_FILE).read_bytes())[0]
        ca = x509.load_pem_x509_certificate((directory / CA_FILE).read_bytes())
        constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
        leaf.verify_directly_issued_by(ca)
    except (OSError, ValueError, IndexError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return None
    deadline = _now() + RENEW_BEFORE
    good = (
        constraints.critical
        and constraints.value.excluded_subtrees is None
        and set(constraints.value.permitted_subtrees or ())
        == set(name_constraints(names).permitted_subtrees or ())
        and _names_of(leaf) == {str(_general_name(n).value) for n in names}
        and _spki(leaf) == _spki(leaf_key)
        and min(leaf.not_valid_after_utc, ca.not_valid_after_utc) > deadline
    )
    return (leaf, ca) if good else None


def _names_of(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(v.value) for v in san}


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
        .not_valid_after(ca_cert.not_valid_after_utc)  # the CA's lifetime, no longer
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
    if material.ca_path and material.ca_expires:
        lines.append(
            f"TLS CA: {material.ca_path} (signs only the names below; valid until "
            f"{material.ca_expires:%Y-%m-%d}, reused by restarts with the same names until then)"
        )
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


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


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
