"""TLS mode: the local CA, the certificate it issues, the user's own certificate, the hints."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from emulator.process import tls
from emulator.process.tls import (
    CA_FILE,
    CERT_FILE,
    KEY_FILE,
    LEGACY_CA_KEY_FILE,
    ORGA_API_HOST,
    TlsError,
    issue_leaf,
    new_ca,
    prepare_tls,
    spki_sha256,
)

NAMES = ("localhost", "127.0.0.1", ORGA_API_HOST, "dev.internal", "10.1.2.3")


def _leaf(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


def _ca(directory: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate((directory / CA_FILE).read_bytes())


def _san(cert: x509.Certificate) -> set[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in san.get_values_for_type(x509.DNSName)} | {
        str(v) for v in san.get_values_for_type(x509.IPAddress)
    }


def _spki(obj: x509.Certificate | ec.EllipticCurvePrivateKey) -> bytes:
    return obj.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_the_certificate_covers_the_default_and_extra_names(tmp_path: Path) -> None:
    material = prepare_tls(tmp_path / "tls", ["dev.internal", "10.1.2.3"])
    leaf = _leaf(material.cert_path)
    assert _san(leaf) == set(NAMES)
    assert material.ca_path == tmp_path / "tls" / CA_FILE
    assert material.spki_sha256 == spki_sha256(leaf)
    leaf.verify_directly_issued_by(_ca(tmp_path / "tls"))
    assert (tmp_path / "tls" / KEY_FILE).stat().st_mode & 0o077 == 0


def test_the_ca_is_name_constrained_to_the_served_names_and_short_lived(tmp_path: Path) -> None:
    material = prepare_tls(tmp_path / "tls", ["dev.internal", "10.1.2.3"])
    ca, leaf = _ca(tmp_path / "tls"), _leaf(material.cert_path)
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert constraints.value.excluded_subtrees is None
    assert set(constraints.value.permitted_subtrees or ()) == {
        x509.DNSName("localhost"),
        x509.DNSName(ORGA_API_HOST),
        x509.DNSName("dev.internal"),
        x509.IPAddress(ipaddress.ip_network("127.0.0.1/32")),
        x509.IPAddress(ipaddress.ip_network("10.1.2.3/32")),
    }
    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca and basic.path_length == 0
    now = datetime.datetime.now(datetime.UTC)
    assert ca.not_valid_after_utc - now <= datetime.timedelta(days=30)
    assert ca.not_valid_after_utc - ca.not_valid_before_utc <= datetime.timedelta(days=30, hours=1)
    assert leaf.not_valid_after_utc <= ca.not_valid_after_utc
    assert material.ca_expires == ca.not_valid_after_utc


def test_no_key_of_the_ca_is_kept_on_disk(tmp_path: Path) -> None:
    directory = tmp_path / "tls"
    prepare_tls(directory, ["dev.internal"])
    ca_spki = _spki(_ca(directory))
    keys = 0
    for path in directory.iterdir():
        for block in re.findall(
            rb"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END [A-Z ]*PRIVATE KEY-----",
            path.read_bytes(),
            re.S,
        ):
            key = serialization.load_pem_private_key(block, password=None)
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            assert _spki(key) != ca_spki, f"{path.name} holds the CA's key"
            keys += 1
    assert keys == 1  # the server's own key, and nothing else
    assert not (directory / LEGACY_CA_KEY_FILE).exists()


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, hostname: str) -> None:
    """A TLS handshake in memory; the client's verification error, if any, is raised."""
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    server_side = server.wrap_bio(s_in, s_out, server_side=True)
    client_side = client.wrap_bio(c_in, c_out, server_hostname=hostname)
    for _ in range(10):
        try:
            client_side.do_handshake()
            return
        except ssl.SSLWantReadError:
            pass
        s_in.write(c_out.read())
        try:
            server_side.do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLError):
            pass
        c_in.write(s_out.read())
    raise AssertionError("the handshake did not finish")


def _contexts(
    tmp_path: Path, ca: x509.Certificate, leaf: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(tls._key_pem(key))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "key.pem")
    return server, ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))


@pytest.mark.parametrize("name", ["evil.example", "api.orga-ai.com.evil.example", "10.9.9.9"])
def test_a_certificate_for_another_name_fails_verification(tmp_path: Path, name: str) -> None:
    """The CA's key exists only while new_ca's caller holds it: here, to forge with it."""
    ca, ca_key = new_ca(NAMES)
    key = ec.generate_private_key(ec.SECP256R1())
    forged, allowed = (
        issue_leaf(ca, ca_key, [name], key),
        issue_leaf(ca, ca_key, [ORGA_API_HOST], key),
    )
    server, client = _contexts(tmp_path, ca, allowed, key)
    _handshake(server, client, ORGA_API_HOST)  # the CA works for its own names
    server, client = _contexts(tmp_path, ca, forged, key)
    with pytest.raises(ssl.SSLCertVerificationError, match="(?i)subtree|name constraint"):
        _handshake(server, client, name)
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "leaf.pem")],
        capture_output=True,
        text=True,
    )
    assert verify.returncode != 0 and "subtree violation" in verify.stdout + verify.stderr


def test_the_ca_is_kept_across_restarts_with_the_same_names(tmp_path: Path) -> None:
    first = prepare_tls(tmp_path / "tls", ["dev.internal"])
    ca_pem, leaf_pem = first.ca_path.read_bytes(), first.cert_path.read_bytes()
    second = prepare_tls(tmp_path / "tls", ["dev.internal"])
    assert second.ca_path.read_bytes() == ca_pem  # trusted once, stays trusted
    assert second.cert_path.read_bytes() == leaf_pem
    assert second.spki_sha256 == first.spki_sha256


def test_new_names_make_a_new_ca_and_keep_the_server_key(tmp_path: Path) -> None:
    first = prepare_tls(tmp_path / "tls")
    ca_pem = first.ca_path.read_bytes()
    second = prepare_tls(tmp_path / "tls", ["new.name"])
    assert second.ca_path.read_bytes() != ca_pem  # the old CA cannot sign for new.name
    assert "new.name" in _san(_leaf(second.cert_path))
    assert second.spki_sha256 == first.spki_sha256  # Chromium's SPKI pin stays valid
    _leaf(second.cert_path).verify_directly_issued_by(_ca(tmp_path / "tls"))


def test_a_ca_near_its_end_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tls, "CA_LIFETIME", datetime.timedelta(hours=12))
    first = prepare_tls(tmp_path / "tls")
    monkeypatch.undo()
    second = prepare_tls(tmp_path / "tls")
    assert second.ca_expires and first.ca_expires
    assert second.ca_expires - first.ca_expires > datetime.timedelta(days=20)


def test_an_unconstrained_ca_of_an_older_version_is_replaced_and_its_key_deleted(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "tls"
    directory.mkdir()
    old = trustme.CA()
    old.cert_pem.write_to_path(str(directory / CA_FILE))
    old.private_key_pem.write_to_path(str(directory / LEGACY_CA_KEY_FILE))
    issued = old.issue_cert(*NAMES[:3])
    issued.private_key_and_cert_chain_pem.write_to_path(str(directory / CERT_FILE))
    material = prepare_tls(directory)
    assert not (directory / LEGACY_CA_KEY_FILE).exists()
    assert material.ca_path.read_bytes() != old.cert_pem.bytes()
    _ca(directory).extensions.get_extension_for_class(x509.NameConstraints)


def test_the_users_own_certificate_is_used_as_given(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("emulator.test")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "chain.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    material = prepare_tls(None, cert=str(tmp_path / "chain.pem"), key=str(tmp_path / "key.pem"))
    assert material.ca_path is None
    assert material.names == ("emulator.test",)
    with pytest.raises(TlsError, match="go together"):
        prepare_tls(None, cert=str(tmp_path / "chain.pem"))


def _get(url: str, cafile: Path, server_hostname: str | None = None) -> dict:
    context = ssl.create_default_context(cafile=str(cafile))
    if server_hostname is None:
        with urllib.request.urlopen(url, context=context, timeout=5) as resp:
            return json.load(resp)
    # Reach api.orga-ai.com's certificate on the emulator's port, as a mapped client would.
    host, port = url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=server_hostname) as tls:
            tls.sendall(f"GET /healthz HTTP/1.1\r\nHost: {server_hostname}\r\n\r\n".encode())
            data = tls.recv(4096).decode()
    return json.loads(data.split("\r\n\r\n", 1)[1])


@pytest.mark.slow
def test_tls_mode_serves_https_that_verifies_against_the_printed_ca(
    emulator_process, tmp_path: Path
) -> None:
    emu = emulator_process("--tls", "--tls-dir", str(tmp_path / "tls"), "--turn-port", "0")
    assert emu.base_url.startswith("https://127.0.0.1:")
    text = "".join(emu.output)
    ca_path = tmp_path / "tls" / CA_FILE
    spki = spki_sha256(_leaf(tmp_path / "tls" / CERT_FILE))
    port = emu.base_url.rsplit(":", 1)[1]
    assert f"TLS CA: {ca_path}" in text
    assert f'--host-resolver-rules="MAP {ORGA_API_HOST}:443 127.0.0.1:{port}"' in text
    assert f"--ignore-certificate-errors-spki-list={spki}" in text
    assert f"NODE_EXTRA_CA_CERTS={ca_path}" in text
    assert _get(emu.base_url + "/healthz", ca_path) == {"status": "ok"}
    assert _get(emu.base_url + "/healthz", ca_path, ORGA_API_HOST) == {"status": "ok"}
    with pytest.raises(urllib.error.URLError):  # not trusted without the CA
        urllib.request.urlopen(emu.base_url + "/healthz", timeout=5)


@pytest.mark.slow
def test_an_unreadable_certificate_stops_startup_with_a_message(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "emulator", "--port", "0", "--turn-port", "0"]
        + ["--tls-cert", str(tmp_path / "missing.pem"), "--tls-key", str(tmp_path / "k.pem")],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 2
    assert "TLS: cannot read" in proc.stderr


NODE_GET = """
const https = require("https");
const [port, servername] = process.argv.slice(1);
https.get({host: "127.0.0.1", port, path: "/healthz", servername}, (res) => {
  let body = "";
  res.on("data", (chunk) => (body += chunk));
  res.on("end", () => console.log(body));
}).on("error", (err) => { console.error(err.code); process.exit(1); });
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_node_trusts_the_name_constrained_ca_for_the_emulators_names(
    emulator_process, tmp_path: Path
) -> None:
    """Node (the SDK backends' runtime, with its own OpenSSL) checks the Name Constraints."""
    emu = emulator_process("--tls", "--tls-dir", str(tmp_path / "tls"), "--turn-port", "0")
    port = emu.base_url.rsplit(":", 1)[1]
    env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(tmp_path / "tls" / CA_FILE)}
    for servername in ("localhost", ORGA_API_HOST):
        node = subprocess.run(
            ["node", "-e", NODE_GET, port, servername],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
        assert node.returncode == 0, node.stderr
        assert json.loads(node.stdout) == {"status": "ok"}
