#!/usr/bin/env python3
"""The engine's socket behind TLS with client certificates, as `dockerd
--tlsverify` serves it, for the DOCKER_TLS_VERIFY / DOCKER_CERT_PATH test.

Usage: tls_engine.py CERT_DIR. Writes a throw-away CA and certificates:
ca.pem, cert.pem and key.pem (the client's, named as the docker CLI expects
them in DOCKER_CERT_PATH) and the server's own pair; listens on a free
loopback port, prints it, and relays each connection whose client shows a
certificate of that CA to /var/run/docker.sock. A client without one is
refused, as dockerd refuses it. `cryptography` comes with moto.
"""

import datetime
import ipaddress
import os
import select
import socket
import ssl
import sys
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ENGINE = "/var/run/docker.sock"


def certificate(key, subject, issuer_key, issuer, ca=False, usage=None, ip=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def write(path, cert=None, key=None):
    with open(path, "wb") as f:
        if cert is not None:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )


def make_certificates(folder):
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate(ca_key, "test CA", ca_key, "test CA", ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = certificate(server_key, "engine", ca_key, "test CA", usage=ExtendedKeyUsageOID.SERVER_AUTH, ip="127.0.0.1")
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = certificate(client_key, "client", ca_key, "test CA", usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    write(os.path.join(folder, "ca.pem"), cert=ca)
    write(os.path.join(folder, "cert.pem"), cert=client)
    write(os.path.join(folder, "key.pem"), key=client_key)
    write(os.path.join(folder, "server-cert.pem"), cert=server)
    write(os.path.join(folder, "server-key.pem"), key=server_key)


def pump(tls, engine):
    """Relays both ways in one thread (an SSL socket is not shared between threads)."""
    open_ends = {tls, engine}
    try:
        while tls in open_ends or engine in open_ends:
            ready = [tls] if tls in open_ends and tls.pending() else []
            if not ready:
                ready, _, _ = select.select(list(open_ends), [], [])
            for sock in ready:
                data = sock.recv(65536)
                if sock is tls:
                    if data:
                        engine.sendall(data)
                    else:
                        open_ends.discard(tls)
                        engine.shutdown(socket.SHUT_WR)
                else:
                    if data:
                        tls.sendall(data)
                    else:
                        return
    except OSError:
        pass
    finally:
        tls.close()
        engine.close()


def main():
    folder = sys.argv[1]
    make_certificates(folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.path.join(folder, "server-cert.pem"), os.path.join(folder, "server-key.pem"))
    context.load_verify_locations(os.path.join(folder, "ca.pem"))
    context.verify_mode = ssl.CERT_REQUIRED
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(listener.getsockname()[1], flush=True)
    while True:
        client, _ = listener.accept()
        try:
            tls = context.wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError):
            client.close()
            continue
        engine = socket.socket(socket.AF_UNIX)
        engine.connect(ENGINE)
        threading.Thread(target=pump, args=(tls, engine), daemon=True).start()


if __name__ == "__main__":
    main()
