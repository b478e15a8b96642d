"""Listeners inside a test's network namespace; driven by NetworkNamespace.swift beside it.

    python3 netns-listener.py CONFIG_JSON

    {"endpoints": [{"host": "169.254.169.254", "port": 80, "serve": false}, ...],
     "routes": {"/path": [302, "http://next/"], ...}}

Every accepted connection prints {"event": "accept", "local": "HOST:PORT"} at once, before
anything is read, so a connection that sends nothing is seen too. A serving endpoint (the
"good partner") then reads one request, prints {"event": "request", "local": ..., "line": ...,
"headers": [...]} and answers from `routes` by path (status and Location), else 204. Other
endpoints close the connection unanswered.

127.0.0.1:9 is the barrier: after a connection there, {"event": "barrier"} is printed once
every connection that reached any endpoint before it has been printed, so a test knows it has
seen everything without sleeping. One JSON object per line on stdout; {"event": "ready"} once
every endpoint listens. Reads are bounded by a timeout; the test kills this process.
"""
import json
import select
import socket
import sys
import threading

config = json.loads(sys.argv[1])
routes = config.get("routes", {})
printing = threading.Lock()


def emit(obj):
    with printing:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def serve(conn, local):
    try:
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        emit({"event": "request", "local": local, "line": head[0], "headers": head[1:]})
        parts = head[0].split(" ")
        path = parts[1].split("?", 1)[0] if len(parts) == 3 else ""
        status, location = routes.get(path, [204, None])
        answer = "HTTP/1.1 %d Listener\r\nContent-Length: 0\r\nConnection: close\r\n" % status
        if location is not None:
            answer += "Location: %s\r\n" % location
        conn.sendall((answer + "\r\n").encode("latin-1"))
    except OSError as e:
        emit({"event": "error", "local": local, "error": str(e)})
    finally:
        conn.close()


def listen(host, port):
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)[0]
    s = socket.socket(family, kind, proto)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind(address)
    s.listen(128)
    s.setblocking(False)
    return s


endpoints = [(listen(e["host"], e["port"]), "%s:%d" % (e["host"], e["port"]), e.get("serve", False))
             for e in config["endpoints"]]
barrier = listen("127.0.0.1", 9)
emit({"event": "ready"})

while True:
    readable, _, _ = select.select([s for s, _, _ in endpoints] + [barrier], [], [])
    # Every ready endpoint is drained before the barrier answers: a connection made before the
    # barrier's is already queued on its endpoint when select reports the barrier.
    for s, local, serving in endpoints:
        while True:
            try:
                conn, _ = s.accept()
            except BlockingIOError:
                break
            emit({"event": "accept", "local": local})
            if serving:
                conn.setblocking(True)
                threading.Thread(target=serve, args=(conn, local), daemon=True).start()
            else:
                conn.close()
    if barrier in readable:
        conn, _ = barrier.accept()
        conn.close()
        emit({"event": "barrier"})
