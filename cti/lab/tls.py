"""The lab's own certificate authority and the certificate its Asterisk offers AMI over TLS with.

Made once per lab instance (kept in its directory, so a restart offers the same certificate) with
the ``cryptography`` package: a CA, and a server certificate it signs for ``127.0.0.1`` and
``localhost``. A daemon verifies the lab with ``[[servers]] tls_ca_file`` = :attr:`ca_file`.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cti.private_files import create_private_file

__all__ = ["LabCertificate", "lab_certificate"]

_VALID = datetime.timedelta(days=3650)


@dataclass(frozen=True, slots=True)
class LabCertificate:
    """Where the lab's TLS files are, as the host sees them."""

    ca_file: Path  # the CA's certificate: what clients trust
    cert_file: Path  # Asterisk's tlscertfile
    key_file: Path  # Asterisk's tlsprivatekey (0600)


def lab_certificate(directory: Path, *, make: bool = True) -> LabCertificate:
    """Return the lab's certificate files in ``directory``, making them the first time (unless
    ``make`` is false: then only where they are or would be)."""
    files = LabCertificate(
        directory / "lab-ca.pem", directory / "ami-cert.pem", directory / "ami-key.pem"
    )
    if not make or all(path.is_file() for path in (files.ca_file, files.cert_file, files.key_file)):
        return files
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cti lab CA")])
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(signs_certificates=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cti lab asterisk")])
    cert = (
        _builder(subject, ca_name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(signs_certificates=False), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    for path in (files.key_file, files.cert_file, files.ca_file):
        path.unlink(missing_ok=True)  # a half-made set from an interrupted run
    create_private_file(
        files.key_file,
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    files.cert_file.write_bytes(cert.public_bytes(pem))
    files.ca_file.write_bytes(ca.public_bytes(pem))
    return files


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + _VALID)
    )


def _usage(*, signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not signs_certificates,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )
