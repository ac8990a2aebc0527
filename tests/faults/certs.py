# SPDX-License-Identifier: LGPL-2.1-or-later
"""Throw-away certificate authorities for the TLS cases: a CA, and leaf
certificates it signs for the names and the validity asked for (an
expired one, one for another host). Made with python3-cryptography, in the
test's own directory; nothing of the machine's trust store is touched."""

import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import ipaddress


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path, key):
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.chmod(path, 0o600)


def _write_cert(path, cert):
    with open(path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


class Authority:
    """A CA: its certificate in self.cert (a PEM file)."""

    def __init__(self, directory, label):
        self.directory = directory
        self.label = label
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{label} (devauthd tests)"))
            .issuer_name(_name(f"{label} (devauthd tests)"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(self.key, hashes.SHA256()))
        self.cert = os.path.join(directory, f"{label}-ca.pem")
        _write_cert(self.cert, self.certificate)

    def issue(self, label, hosts=("127.0.0.1",), valid_from=-3600, valid_for=86400):
        """A leaf for @hosts (IP addresses or DNS names), valid from
        @valid_from seconds from now for @valid_for seconds; returns (cert
        file, key file), as FaultProxy's tls= takes them."""
        names = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        return self._leaf(label, hosts[0], x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                          valid_from, valid_for, names)

    def issue_client(self, label, common_name):
        """A client certificate (TLS client authentication, RFC 8705) whose
        subject is CN=@common_name; returns (cert file, key file)."""
        return self._leaf(label, common_name, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH,
                          -3600, 86400)

    def _leaf(self, label, common_name, purpose, valid_from, valid_for, names=None):
        key = ec.generate_private_key(ec.SECP256R1())
        start = datetime.datetime.now(datetime.timezone.utc) + \
            datetime.timedelta(seconds=valid_from)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(seconds=valid_for)))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = (
            builder
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
            .sign(self.key, hashes.SHA256()))
        cert_path = os.path.join(self.directory, f"{self.label}-{label}.pem")
        key_path = os.path.join(self.directory, f"{self.label}-{label}.key")
        _write_cert(cert_path, cert)
        _write_key(key_path, key)
        return cert_path, key_path
