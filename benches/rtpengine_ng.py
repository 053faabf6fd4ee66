#!/usr/bin/env python3
"""Drives rtpengine's ng control protocol (bencode dictionaries over UDP, each datagram
"COOKIE <bencoded dict>") for benches/rtpengine.sh: allocates COUNT relays (one rtpengine
call each, as for COUNT phone calls) between side A (the storm, which sends to the relay) and
side B (a UDP echo), and prints the port A sends to for each, one a line.

    rtpengine_ng.py NG_ADDR setup A_ADDR B_ADDR COUNT   -> the relay ports for A
    rtpengine_ng.py NG_ADDR delete COUNT
"""
import itertools
import os
import socket
import sys

CALL_ID = "voxgate-storm-relay-%d"


def bencode(value):
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        items = sorted((k.encode(), v) for k, v in value.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError(type(value))


def bdecode(data, i=0):
    c = data[i:i + 1]
    if c == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1:end]), end + 1
    if c in (b"l", b"d"):
        i += 1
        out = [] if c == b"l" else {}
        while data[i:i + 1] != b"e":
            key, i = bdecode(data, i)
            if c == b"l":
                out.append(key)
            else:
                out[key.decode()], i = bdecode(data, i)
        return out, i + 1
    colon = data.index(b":", i)
    n = int(data[i:colon])
    return data[colon + 1:colon + 1 + n], colon + 1 + n


COOKIES = itertools.count()


def ng(addr, command):
    host, port = addr.rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        # rtpengine answers a cookie it has seen from its cache: each command gets its own.
        cookie = b"%d_%d" % (os.getpid(), next(COOKIES))
        s.sendto(cookie + b" " + bencode(command), (host, int(port)))
        reply = s.recv(65536)
    body = reply.split(b" ", 1)[1]
    answer, _ = bdecode(body)
    if answer.get("result") != b"ok":
        sys.exit("rtpengine: %r" % answer)
    return answer


def sdp(addr, session):
    host, port = addr.rsplit(":", 1)
    return (
        "v=0\r\no=- %d 1 IN IP4 %s\r\ns=storm\r\nc=IN IP4 %s\r\nt=0 0\r\n"
        "m=audio %s RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n" % (session, host, host, port)
    )


def media_port(answer):
    for line in answer["sdp"].decode().splitlines():
        if line.startswith("m=audio "):
            return int(line.split()[1])
    sys.exit("rtpengine returned no audio port")


def main():
    addr, action = sys.argv[1], sys.argv[2]
    if action == "setup":
        a, b, count = sys.argv[3], sys.argv[4], int(sys.argv[5])
        for n in range(count):
            call_id = CALL_ID % n
            # The offer is A's: rtpengine answers with the port B is to send to.
            ng(addr, {"command": "offer", "call-id": call_id, "from-tag": "storm",
                      "sdp": sdp(a, 1), "replace": ["origin", "session-connection"]})
            # The answer is B's: rtpengine answers with the port A is to send to.
            answer = ng(addr, {"command": "answer", "call-id": call_id, "from-tag": "storm",
                               "to-tag": "echo", "sdp": sdp(b, 2),
                               "replace": ["origin", "session-connection"]})
            print(media_port(answer))
    elif action == "delete":
        for n in range(int(sys.argv[3])):
            ng(addr, {"command": "delete", "call-id": CALL_ID % n, "from-tag": "storm"})
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
