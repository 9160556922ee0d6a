"""A real forward proxy on loopback, standard library only: HTTP CONNECT (`connect`), HTTP CONNECT
over TLS (`https`, with CERT and KEY files), or SOCKS5 (`socks5`), optionally asking for
USER:PASSWORD (empty: none). Prints `listening PORT`, then `tunnel HOST:PORT` for each connection
it carries and `refused WHY` for each it turns away."""
import base64, select, socket, ssl, struct, sys, threading

mode, credentials = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
tls = None
if mode == "https":
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(sys.argv[3], sys.argv[4])


def say(line):
    print(line, flush=True)


def recv_exactly(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed early")
        data += chunk
    return data


def relay(a, b):
    try:
        while True:
            # Bytes TLS has already decrypted are not visible to select.
            ready = [s for s in (a, b) if isinstance(s, ssl.SSLSocket) and s.pending()]
            for s in ready or select.select([a, b], [], [])[0]:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    finally:
        a.close()
        b.close()


def http_connect(conn):
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = conn.recv(4096)
        if not chunk:
            return
        head += chunk
    lines = head.split(b"\r\n\r\n")[0].decode().split("\r\n")
    method, target = lines[0].split(" ")[:2]
    if method != "CONNECT":
        say(f"refused method {method}")
        conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
        return
    if credentials:
        given = [l.split(" ", 2)[2] for l in lines[1:] if l.lower().startswith("proxy-authorization: basic ")]
        if not given or base64.b64decode(given[0]).decode() != credentials:
            say("refused credentials")
            conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n")
            return
    host, port = target.rsplit(":", 1)
    upstream = socket.create_connection((host.strip("[]"), int(port)))
    say(f"tunnel {target}")
    conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    relay(conn, upstream)


def socks5(conn):
    _, count = recv_exactly(conn, 2)
    methods = recv_exactly(conn, count)
    wanted = 2 if credentials else 0
    if wanted not in methods:
        say("refused method")
        conn.sendall(b"\x05\xff")
        return
    conn.sendall(bytes([5, wanted]))
    if credentials:
        recv_exactly(conn, 1)
        user = recv_exactly(conn, recv_exactly(conn, 1)[0]).decode()
        password = recv_exactly(conn, recv_exactly(conn, 1)[0]).decode()
        ok = f"{user}:{password}" == credentials
        conn.sendall(bytes([1, 0 if ok else 1]))
        if not ok:
            say("refused credentials")
            return
    _, command, _, kind = recv_exactly(conn, 4)
    if kind == 1:
        host = socket.inet_ntoa(recv_exactly(conn, 4))
    elif kind == 3:
        host = recv_exactly(conn, recv_exactly(conn, 1)[0]).decode()
    else:
        host = socket.inet_ntop(socket.AF_INET6, recv_exactly(conn, 16))
    port = struct.unpack(">H", recv_exactly(conn, 2))[0]
    upstream = socket.create_connection((host, port))
    say(f"tunnel {host}:{port}")
    conn.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("0.0.0.0") + struct.pack(">H", 0))
    relay(conn, upstream)


def serve(conn):
    try:
        if tls:
            conn = tls.wrap_socket(conn, server_side=True)
        (socks5 if mode == "socks5" else http_connect)(conn)
    except (OSError, ConnectionError, ValueError):
        pass
    finally:
        conn.close()


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(64)
say(f"listening {listener.getsockname()[1]}")
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
