"""Pre-flight checks: endpoint parsing and binding, CA bundles; real sockets and files, no daemon."""

from __future__ import annotations

import datetime
import os
import socket
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol
from twisted.trial.unittest import SynchronousTestCase, TestCase

from ghcrawl.errors import ConfigError
from ghcrawl.preflight import check_ca_file, listen_status, status_endpoint


def certificate_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


class CheckTests(SynchronousTestCase):
    def write(self, data: bytes) -> str:
        fd, path = tempfile.mkstemp(suffix=".pem")
        os.write(fd, data)
        os.close(fd)
        self.addCleanup(os.unlink, path)
        return path

    def test_endpoint_descriptions(self) -> None:
        """Unknown types, bad arguments and ports out of range are refused without binding."""
        status_endpoint(reactor, "tcp:8099:interface=127.0.0.1")
        for bad, needle in (("nonsense:1", "Unknown endpoint type"), ("tcp:abc", "abc"),
                            ("tcp:70000", "port 70000 is not 0-65535"), ("tcp:1:colour=blue", "colour")):
            with self.assertRaises(ConfigError) as caught:
                status_endpoint(reactor, bad)
            self.assertIn(needle, str(caught.exception))
            self.assertIn(f"status_endpoint {bad!r} is not a valid endpoint", str(caught.exception))

    def test_ca_bundles(self) -> None:
        """A bundle of real certificates loads; no certificate or a broken one is refused."""
        check_ca_file(self.write(certificate_pem() + b"\n" + certificate_pem()))
        cases = {b"plain text\n": "holds no PEM certificate",
                 b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n": "not a valid PEM bundle",
                 certificate_pem() + b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n":
                     "certificate 2"}
        for data, needle in cases.items():
            with self.assertRaises(ConfigError) as caught:
                check_ca_file(self.write(data))
            self.assertIn(needle, str(caught.exception))

    def test_taken_port(self) -> None:
        """A port another socket holds is one ConfigError, at once."""
        taken = socket.socket()
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with self.assertRaises(ConfigError) as caught:
            listen_status(reactor, f"tcp:{taken.getsockname()[1]}:interface=127.0.0.1")
        self.assertIn("cannot listen on status_endpoint", str(caught.exception))


class Hello(Protocol):
    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(b"hello")
        self.transport.loseConnection()


class ServeTests(TestCase):
    timeout = 10

    async def test_bound_then_served(self) -> None:
        """Bound at once, the port refuses connections until given a factory, then serves it."""
        listener = listen_status(reactor, "tcp:0:interface=127.0.0.1")
        port = await listener.listening
        self.addCleanup(port.stopListening)
        address = ("127.0.0.1", port.getHost().port)
        with socket.create_connection(address, timeout=5) as early:
            await _turn()
            self.assertEqual(early.recv(10), b"", "served before the site existed")
        self.assertIs(await listener.serve(Factory.forProtocol(Hello)), port)
        with socket.create_connection(address, timeout=5) as late:
            late.setblocking(False)
            for _ in range(100):
                await _turn()
                try:
                    self.assertEqual(late.recv(10), b"hello")
                    return
                except BlockingIOError:
                    continue
        self.fail("the served factory never answered")


def _turn() -> Deferred[None]:
    d: Deferred[None] = Deferred()
    reactor.callLater(0.01, d.callback, None)  # type: ignore[attr-defined]
    return d
