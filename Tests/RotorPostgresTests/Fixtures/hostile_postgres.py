"""A hostile PostgreSQL server for rotor's tests: it answers the TLS request as told, then asks
for the password in clear or as MD5 and records every byte the client sends after that request.
A client that never answers leaves the capture file empty.

usage: hostile_postgres.py PORT_FILE CAPTURE_FILE tls=decline|accept auth=cleartext|md5|trust [CERT KEY]
"""
import os, socket, ssl, struct, sys, threading

port_file, capture_file, tls_mode, auth = sys.argv[1], sys.argv[2], sys.argv[3].split("=")[1], sys.argv[4].split("=")[1]
cert = sys.argv[5] if len(sys.argv) > 5 else None
key = sys.argv[6] if len(sys.argv) > 6 else None
lock = threading.Lock()

def record(kind, data=b""):
    with lock, open(capture_file, "ab") as f:
        f.write(kind.encode() + b" " + data.hex().encode() + b"\n")

def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data

def serve(conn):
    try:
        conn.settimeout(5)
        length, code = struct.unpack("!ii", read_exact(conn, 8))
        if code == 80877103:  # SSLRequest
            if tls_mode == "accept":
                conn.sendall(b"S")
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(cert, key)
                try:
                    conn = context.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    record("tls-refused-by-client")
                    return
            else:
                conn.sendall(b"N")
            length = struct.unpack("!i", read_exact(conn, 4))[0]
            read_exact(conn, length - 4)
        else:
            read_exact(conn, length - 8)
        record("startup")
        if auth == "md5":
            conn.sendall(b"R" + struct.pack("!ii", 12, 5) + os.urandom(4))
        elif auth == "trust":  # AuthenticationOk at once: no proof that the server knows anything
            conn.sendall(b"R" + struct.pack("!ii", 8, 0))
        else:
            conn.sendall(b"R" + struct.pack("!ii", 8, 3))
        record("asked-" + auth)
        conn.settimeout(2)
        while True:
            try:
                data = conn.recv(65536)
            except (socket.timeout, OSError):
                break
            if not data:
                break
            record("received", data)
    except (EOFError, OSError, ValueError, struct.error):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(16)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.getsockname()[1]))
os.rename(port_file + ".tmp", port_file)
while True:
    client, _ = server.accept()
    threading.Thread(target=serve, args=(client,), daemon=True).start()
