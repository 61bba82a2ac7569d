"""Client certificates: a PEM (key and certificate) or PFX file, or a base64 PFX, loaded for MSAL.

Loaded at `check` as well as at sign-in, so a missing file, a wrong password or a key Entra
cannot use fails at `pulumi preview`, before any request. Entra ID app certificates are RSA
(learn.microsoft.com, "Microsoft identity platform application authentication certificate
credentials": the assertion is signed RS256/PS256).
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from .credentials import CertificateSource
from .errors import ConfigurationError
from .settings import CLIENT_CERTIFICATE, CLIENT_CERTIFICATE_PASSWORD, CLIENT_CERTIFICATE_PATH

__all__ = ["load_certificate"]


def load_certificate(source: CertificateSource) -> dict[str, str]:
    """The key and certificate as PEM text, as MSAL's `client_credential` takes them."""
    content = _content(source)
    password = source.password.encode() if source.password else None
    key: PrivateKeyTypes | None
    certificate: x509.Certificate | None
    try:
        if b"-----BEGIN" in content:
            key = serialization.load_pem_private_key(content, password)
            certificate = x509.load_pem_x509_certificate(content)
        else:
            key, certificate, _ = pkcs12.load_key_and_certificates(content, password)
    except (ValueError, TypeError):
        raise ConfigurationError(
            f"Cannot load the key and certificate from {source.describe()}: it must be a PEM file with both, "
            f"or a PFX; check {CLIENT_CERTIFICATE_PASSWORD.describe()}"
        ) from None
    if key is None or certificate is None:
        raise ConfigurationError(f"{source.describe()} lacks the private key or the certificate")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigurationError(f"{source.describe()} holds a {type(key).__name__}; Entra ID app credentials need an RSA key")
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {
        "private_key": key_pem.decode(),
        "public_certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
    }


def _content(source: CertificateSource) -> bytes:
    if source.path:
        try:
            return Path(source.path).read_bytes()
        except OSError as exc:
            raise ConfigurationError(
                f"Cannot read {CLIENT_CERTIFICATE_PATH.describe()} {source.path!r}: {exc.strerror}"
            ) from None
    try:
        return base64.b64decode("".join((source.base64_pfx or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{CLIENT_CERTIFICATE.describe()} must be a base64-encoded PFX") from None
