"""The Thrift server's certificate (lakehouse/platform/tls.py): made once, kept, renewed for a
new host name, made again when its password changed, and a deployment's own left alone."""

from __future__ import annotations

import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12

from lakehouse.platform import tls

KEYSTORE_PW, TRUST_PW = "keystore-password-1", "trust-password-1"


def _server_cert(files: tls.TlsFiles, password: str = KEYSTORE_PW) -> x509.Certificate:
    _, cert, chain = pkcs12.load_key_and_certificates(files.keystore.read_bytes(), password.encode())
    assert [c.subject for c in chain] == [x509.load_pem_x509_certificate(files.ca_cert.read_bytes()).subject]
    return cert


def _names(cert: x509.Certificate) -> set[str]:
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n.value) for n in sans}


def test_made_once_signed_by_its_ca_and_private(tmp_path):
    files, changed = tls.ensure(tmp_path, ["spark-thrift", "127.0.0.1"], KEYSTORE_PW, TRUST_PW)
    assert changed
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    cert = _server_cert(files)
    ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert _names(cert) == {"spark-thrift", "127.0.0.1"}
    assert stat.S_IMODE(files.keystore.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.ca_key.stat().st_mode) == 0o600
    assert b"ENCRYPTED" in files.ca_key.read_bytes()
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(files.keystore.read_bytes(), b"wrong")
    # Java's truststore holds the CA, under its own password
    trusted = pkcs12.load_pkcs12(files.truststore.read_bytes(), TRUST_PW.encode())
    assert [c.certificate for c in trusted.additional_certs] == [ca]


def test_kept_as_it_is_then_renewed_for_a_new_host(tmp_path):
    files, _ = tls.ensure(tmp_path, ["127.0.0.1"], KEYSTORE_PW, TRUST_PW)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert tls.ensure(tmp_path, ["127.0.0.1"], KEYSTORE_PW, TRUST_PW) == (files, False)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    _, changed = tls.ensure(tmp_path, ["127.0.0.1", "thrift.example.org"], KEYSTORE_PW, TRUST_PW)
    assert changed and _names(_server_cert(files)) == {"127.0.0.1", "thrift.example.org"}
    assert files.ca_cert.read_bytes() == before["ca.pem"]  # clients keep trusting it


def test_a_new_password_makes_new_files_and_a_deployments_own_keystore_is_left_alone(tmp_path):
    files, _ = tls.ensure(tmp_path / "ours", ["127.0.0.1"], KEYSTORE_PW, TRUST_PW)
    old_ca = files.ca_cert.read_bytes()
    _, changed = tls.ensure(tmp_path / "ours", ["127.0.0.1"], "rotated-password", "rotated-trust")
    assert changed and files.ca_cert.read_bytes() != old_ca
    _server_cert(files, "rotated-password")
    pkcs12.load_pkcs12(files.truststore.read_bytes(), b"rotated-trust")

    own = tmp_path / "own"
    own.mkdir()
    (own / "thrift.p12").write_bytes(b"the deployment's keystore")
    assert tls.ensure(own, ["127.0.0.1"], KEYSTORE_PW, TRUST_PW)[1] is False
    assert sorted(p.name for p in own.iterdir()) == ["thrift.p12"]


def test_a_ca_and_key_that_do_not_match_are_made_again(tmp_path):
    """A crash between writing the CA's key and its certificate leaves a pair that signs
    nothing a client trusts: the next start makes a new pair, and a certificate signed by it."""
    files, _ = tls.ensure(tmp_path / "a", ["127.0.0.1"], KEYSTORE_PW, TRUST_PW)
    other, _ = tls.ensure(tmp_path / "b", ["127.0.0.1"], KEYSTORE_PW, TRUST_PW)
    files.ca_cert.write_bytes(other.ca_cert.read_bytes())  # same name, another key
    _, changed = tls.ensure(tmp_path / "a", ["127.0.0.1"], KEYSTORE_PW, TRUST_PW)
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    assert changed and ca != x509.load_pem_x509_certificate(other.ca_cert.read_bytes())
    _server_cert(files).verify_directly_issued_by(ca)


def test_a_deployments_own_ca_gets_a_truststore(tmp_path):
    ours, _ = tls.ensure(tmp_path / "ours", ["127.0.0.1"], KEYSTORE_PW, TRUST_PW)
    own = tmp_path / "own"
    own.mkdir()
    for name in ("thrift.p12", "ca.pem"):
        (own / name).write_bytes((ours.directory / name).read_bytes())
    assert tls.ensure(own, ["127.0.0.1"], KEYSTORE_PW, TRUST_PW)[1] is False
    trusted = pkcs12.load_pkcs12((own / "truststore.p12").read_bytes(), TRUST_PW.encode())
    assert ([c.certificate for c in trusted.additional_certs]
            == [x509.load_pem_x509_certificate(ours.ca_cert.read_bytes())])
    assert not (own / "ca.key").exists()
