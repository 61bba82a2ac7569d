"""Client certificates: a PEM (key and certificate) or PFX file, or a base64 PFX, loaded for MSAL.

Loaded at `check` as well as at sign-in, so a missing file, a wrong password or a key Entra
cannot use fails at `pulumi preview`, before any request. Entra ID app certificates are RSA
(learn.microsoft.com, "Microsoft identity platform application authentication certificate
credentials": the assertion is signed RS256/PS256).
"""

from __future__ import annotations

import base64
import binascii

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from providers.common.errors import ConfigurationError
from providers.common.files import read_regular_file
from providers.config.credentials import CertificateSource
from providers.config.settings import CLIENT_CERTIFICATE, CLIENT_CERTIFICATE_PASSWORD, CLIENT_CERTIFICATE_PATH

__all__ = ["load_certificate"]


def load_certificate(source: CertificateSource) -> dict[str, str]:
    """The key and certificate as PEM text, as MSAL's `client_credential` takes them."""
    content = _content(source)
    password = source.password.encode() if source.password else None
    pem = b"-----BEGIN" in content
    key, certificate = (_from_pem if pem else _from_pfx)(content, password, source.describe())
    if key is None or certificate is None:
        raise ConfigurationError(f"{source.describe()} lacks the private key or the certificate")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigurationError(f"{source.describe()} holds a {type(key).__name__}; Entra ID app credentials need an RSA key")
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {
        "private_key": key_pem.decode(),
        "public_certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
    }


_Loaded = tuple[PrivateKeyTypes | None, x509.Certificate | None]
_BOTH = "it must hold the private key and the certificate"


def _from_pem(content: bytes, password: bytes | None, described: str) -> _Loaded:
    """A PEM file holding the private key and the certificate (cryptography's messages are no contract:
    what went wrong is told from the exception's type and whether a password was given)."""
    if b"PRIVATE KEY" not in content:
        raise ConfigurationError(f"{described} is a PEM file without a private key; {_BOTH}")
    try:
        key = serialization.load_pem_private_key(content, password)
    except TypeError:
        if password:
            raise ConfigurationError(
                f"The key in {described} is not encrypted, but {CLIENT_CERTIFICATE_PASSWORD.describe()} is set: remove it"
            ) from None
        raise ConfigurationError(f"The key in {described} is encrypted: set {CLIENT_CERTIFICATE_PASSWORD.describe()}") from None
    except ValueError:
        reason = f"{CLIENT_CERTIFICATE_PASSWORD.describe()} does not decrypt it" if password else "it is not a key PEM can hold"
        raise ConfigurationError(f"Cannot load the private key in {described}: {reason}") from None
    try:
        return key, x509.load_pem_x509_certificate(content)
    except ValueError:
        raise ConfigurationError(f"{described} is a PEM file without a certificate; {_BOTH}") from None


def _from_pfx(content: bytes, password: bytes | None, described: str) -> _Loaded:
    """A PFX (PKCS#12) file; cryptography cannot tell a wrong password from a file that is no PFX."""
    try:
        key, certificate, _ = pkcs12.load_key_and_certificates(content, password)
    except ValueError:
        check = "is the right one" if password else "is set, if the PFX has one"
        raise ConfigurationError(
            f"Cannot load {described} as a PFX: check that it is a PFX (or a PEM with the key and the certificate) "
            f"and that {CLIENT_CERTIFICATE_PASSWORD.describe()} {check}"
        ) from None
    return key, certificate


def _content(source: CertificateSource) -> bytes:
    if source.path:
        try:
            return read_regular_file(source.path)
        except OSError as exc:
            raise ConfigurationError(
                f"Cannot read {CLIENT_CERTIFICATE_PATH.describe()} {source.path!r}: {exc.strerror}"
            ) from None
    try:
        return base64.b64decode("".join((source.base64_pfx or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{CLIENT_CERTIFICATE.describe()} must be a base64-encoded PFX") from None
