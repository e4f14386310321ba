"""TLS mode: the local CA, the certificate it issues, the user's own certificate, the hints."""

from __future__ import annotations

import json
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

from emulator.process.tls import (
    CA_FILE,
    CA_KEY_FILE,
    CERT_FILE,
    ORGA_API_HOST,
    TlsError,
    prepare_tls,
    spki_sha256,
)


def _leaf(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


def _san(cert: x509.Certificate) -> set[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in san.get_values_for_type(x509.DNSName)} | {
        str(v) for v in san.get_values_for_type(x509.IPAddress)
    }


def test_the_certificate_covers_the_default_and_extra_names(tmp_path: Path) -> None:
    material = prepare_tls(tmp_path / "tls", ["dev.internal", "10.1.2.3"])
    leaf = _leaf(material.cert_path)
    assert _san(leaf) == {"localhost", "127.0.0.1", ORGA_API_HOST, "dev.internal", "10.1.2.3"}
    assert material.ca_path == tmp_path / "tls" / CA_FILE
    assert material.spki_sha256 == spki_sha256(leaf)
    ca = x509.load_pem_x509_certificate(material.ca_path.read_bytes())
    leaf.verify_directly_issued_by(ca)
    assert (tmp_path / "tls" / CA_KEY_FILE).stat().st_mode & 0o077 == 0


def test_the_ca_and_the_server_key_survive_a_restart(tmp_path: Path) -> None:
    first = prepare_tls(tmp_path / "tls")
    ca_pem = first.ca_path.read_bytes()
    leaf_serial = _leaf(first.cert_path).serial_number
    second = prepare_tls(tmp_path / "tls", ["new.name"])
    assert second.ca_path.read_bytes() == ca_pem  # trusted once, stays trusted
    assert second.spki_sha256 == first.spki_sha256  # Chromium's SPKI pin stays valid
    assert _leaf(second.cert_path).serial_number != leaf_serial  # reissued for the new names
    assert "new.name" in _san(_leaf(second.cert_path))


def test_a_mismatched_ca_key_is_refused(tmp_path: Path) -> None:
    prepare_tls(tmp_path / "a")
    prepare_tls(tmp_path / "b")
    (tmp_path / "a" / CA_KEY_FILE).write_bytes((tmp_path / "b" / CA_KEY_FILE).read_bytes())
    with pytest.raises(TlsError, match="does not match"):
        prepare_tls(tmp_path / "a")


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
