"""The Thrift server's TLS certificate, generated like the other secrets.

At the Thrift server's first start (natively `lakehouse up`, in compose its container's
`lakehouse serve`) the platform makes a private certificate authority and a server
certificate it signs for the Thrift server's host names. The server gets a PKCS#12
keystore; clients trust the CA: Python clients its PEM, Java clients (DQOps's JDBC driver,
beeline) a PKCS#12 truststore. A deployment with its own CA puts its keystore and CA at the
same paths: only the truststore is made, from its CA.

Files (TlsFiles): the CA's key never leaves the directory; the keystore and the CA key are
mode 0600, protected by LAKEHOUSE_THRIFT_KEYSTORE_PASSWORD.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lakehouse.errors import LakehouseError

CA_DAYS = 3650
SERVER_DAYS = 825  # what browsers and most TLS stacks still accept for a leaf certificate
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class TlsFiles:
    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def keystore(self) -> Path:
        """The Thrift server's key and certificate chain (PKCS#12)."""
        return self.directory / "thrift.p12"

    @property
    def truststore(self) -> Path:
        """The CA for Java clients (PKCS#12 with a trusted-certificate entry)."""
        return self.directory / "truststore.p12"


def _names(hosts: list[str]):
    from cryptography import x509

    names = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _write(path: Path, data: bytes, private: bool) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)  # a leftover keeps its mode: never write a key into it
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _new_key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _certificate(subject: str, public_key, issuer_name, signing_key, days: int, ca: bool, hosts=()):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=ca, crl_sign=ca,
                                            content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=not ca,
                                            encipher_only=False, decipher_only=False), critical=True))
    if not ca:
        builder = (builder.add_extension(x509.SubjectAlternativeName(_names(list(hosts))), critical=False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
    return builder.sign(signing_key, hashes.SHA256())


def _current_server_cert(files: TlsFiles, password: bytes):
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        _, cert, _ = pkcs12.load_key_and_certificates(files.keystore.read_bytes(), password)
        return cert
    except (OSError, ValueError):
        return None


def _expiring(cert) -> bool:
    return cert.not_valid_after_utc - dt.datetime.now(dt.UTC) < RENEW_BEFORE


def _covers(cert, hosts: list[str], ca_cert) -> bool:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    if cert is None or _expiring(cert):
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)  # signed by this CA, not one of the same name
    except (ValueError, TypeError, InvalidSignature):
        return False
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(_names(hosts)) <= set(sans)


def _truststore(files: TlsFiles, password: str) -> None:
    """keytool writes the trusted-certificate attribute Java needs in a PKCS#12 truststore."""
    keytool = Path(os.environ["JAVA_HOME"], "bin", "keytool") if os.environ.get("JAVA_HOME") else None
    keytool = str(keytool) if keytool and keytool.exists() else shutil.which("keytool")
    if keytool is None:
        raise LakehouseError("keytool (Java 17) not found: set JAVA_HOME to make the Thrift server's truststore")
    tmp = files.truststore.with_name(".truststore.p12.tmp")
    tmp.unlink(missing_ok=True)
    done = subprocess.run([keytool, "-importcert", "-noprompt", "-alias", "lakehouse-ca",
                           "-file", str(files.ca_cert), "-keystore", str(tmp),
                           "-storetype", "PKCS12", "-storepass:env", "LAKEHOUSE_TRUSTSTORE_PASS"],
                          env={**os.environ, "LAKEHOUSE_TRUSTSTORE_PASS": password}, capture_output=True, text=True)
    if done.returncode != 0:
        raise LakehouseError(f"keytool could not write {files.truststore}: "
                             f"{done.stderr.strip() or done.stdout.strip()}")
    os.chmod(tmp, 0o644)
    os.replace(tmp, files.truststore)


def _opens(path: Path, password: str) -> bool:
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        pkcs12.load_pkcs12(path.read_bytes(), password.encode())
        return True
    except (OSError, ValueError):
        return False


def ensure(directory: Path, hosts: list[str], password: str, trust_password: str) -> tuple[TlsFiles, bool]:
    """The CA, and a server certificate for `hosts` signed by it; made when missing, the server
    certificate again when it lacks a host or expires within RENEW_BEFORE. Files a deployment
    put there itself (a keystore without our CA key) are left alone. Returns (files, changed)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    files = TlsFiles(directory)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o711)
    if files.keystore.exists() and not files.ca_key.exists():
        # The deployment's own certificate: Java clients still get a truststore of its CA.
        if files.ca_cert.exists() and not _opens(files.truststore, trust_password):
            _truststore(files, trust_password)
        return files, False
    secret = password.encode()
    changed = False
    try:
        ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), secret)
        ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        pem = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        if ca_key.public_key().public_bytes(*pem) != ca_cert.public_key().public_bytes(*pem) or _expiring(ca_cert):
            raise ValueError("the CA's key and certificate differ, or it expires soon")
    except (OSError, ValueError, TypeError):
        # None yet, sealed with another password (the secret was rotated), half written, or
        # about to expire: a new CA, and clients read the new ca.pem at their next start.
        ca_key = _new_key()
        ca_cert = _certificate("lakehouse platform CA", ca_key.public_key(), None, ca_key, CA_DAYS, ca=True)
        _write(files.ca_key, ca_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.BestAvailableEncryption(secret)), private=True)
        _write(files.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM), private=False)
        files.keystore.unlink(missing_ok=True)
        changed = True
    if not _covers(_current_server_cert(files, secret), hosts, ca_cert):
        key = _new_key()
        cert = _certificate("lakehouse-thrift", key.public_key(), ca_cert.subject, ca_key, SERVER_DAYS, ca=False,
                            hosts=hosts)
        _write(files.keystore, pkcs12.serialize_key_and_certificates(
            b"thrift", key, cert, [ca_cert], serialization.BestAvailableEncryption(secret)), private=True)
        changed = True
    if changed or not _opens(files.truststore, trust_password):
        _truststore(files, trust_password)
    return files, changed
