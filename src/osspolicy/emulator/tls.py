"""TLS for the emulator: a test CA made at start (trustme) and a server certificate from it.

The certificate is valid for 127.0.0.1, ::1, localhost, and NAME and `*.NAME` (each
region's when NAME holds `{region}`), so the SDKs' virtual-host addressing
(`<bucket>.NAME`) verifies. Clients trust it the way a user trusts a private CA: the CA's
PEM (`TestCA.ca_pem`, `write_ca(path)`, `--ca-file PATH`) through `REQUESTS_CA_BUNDLE` /
`SSL_CERT_FILE`, or an `ssl` context given to the SDK's HTTP client. The CA's key never
leaves the process.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterable
from pathlib import Path

import trustme

__all__ = ("TestCA",)


class TestCA:
    """A throw-away CA and the server certificate it issued for `names`."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, names: Iterable[str]) -> None:
        self.names = ("127.0.0.1", "::1", "localhost", *dict.fromkeys(names))
        self._ca = trustme.CA(organization_name="osspolicy OSS emulator test CA")
        self._cert = self._ca.issue_cert(*self.names)

    def __repr__(self) -> str:
        return f"TestCA(names={list(self.names)!r})"

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate, PEM: what a client adds to its trusted CAs."""
        return self._ca.cert_pem.bytes()

    def write_ca(self, path: str | os.PathLike[str]) -> Path:
        """Write the CA certificate's PEM to `path` (replacing it); return the path."""
        target = Path(path)
        target.write_bytes(self.ca_pem)
        return target

    def server_context(self) -> ssl.SSLContext:
        """A server-side SSL context presenting the issued certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(context)
        return context
