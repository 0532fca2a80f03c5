"""Metadata (v1) asked of one given broker over a plain socket, for scale_bench.py.

A client library routes Metadata to whichever broker it likes; the scale benchmark must
know what each broker's own image says, so it sends the request itself to the broker
it names. v1 is the first version with the controller id and a null (= all) topic list.
"""

import socket
import struct

METADATA = 3


class BrokerMetadata:
    """The parts of a Metadata v1 response the benchmark reads."""

    def __init__(self, brokers, controller_id, partitions):
        self.brokers = brokers  # node ids listed (fenced brokers are not)
        self.controller_id = controller_id
        self.partitions = partitions  # (topic, partition) -> (leader, replicas, isr)


class MetadataConn:
    """One connection to one broker, reopened after an error."""

    def __init__(self, port):
        self.port, self.sock, self.correlation = port, None, 0

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def fetch(self, timeout=10.0):
        """The broker's metadata for all topics; raises OSError when it cannot answer."""
        try:
            if self.sock is None:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
            self.sock.settimeout(timeout)
            self.correlation += 1
            client = b"scale-bench"
            body = struct.pack(">hhih", METADATA, 1, self.correlation, len(client)) + client + struct.pack(">i", -1)
            self.sock.sendall(struct.pack(">i", len(body)) + body)
            size = struct.unpack(">i", self._read(4))[0]
            data = self._read(size)
        except OSError:
            self.close()
            raise
        return parse(data, self.correlation)

    def _read(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(min(n - len(buf), 1 << 20))
            if not chunk:
                raise ConnectionError("connection closed")
            buf += chunk
        return bytes(buf)


def parse(data, correlation):
    pos = 0

    def unpack(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return v

    def string():
        nonlocal pos
        (n,) = unpack(">h")
        if n < 0:
            return None
        s = data[pos:pos + n].decode()
        pos += n
        return s

    def int32_array():
        nonlocal pos
        (n,) = unpack(">i")
        v = struct.unpack_from(f">{n}i", data, pos)
        pos += 4 * n
        return v

    (got,) = unpack(">i")
    if got != correlation:
        raise ConnectionError(f"correlation id {got}, expected {correlation}")
    brokers = []
    for _ in range(unpack(">i")[0]):
        (node,) = unpack(">i")
        string()
        unpack(">i")
        string()
        brokers.append(node)
    (controller,) = unpack(">i")
    partitions = {}
    for _ in range(unpack(">i")[0]):
        unpack(">h")
        topic = string()
        unpack(">b")
        for _ in range(unpack(">i")[0]):
            _err, index, leader = unpack(">hii")
            replicas = int32_array()
            isr = int32_array()
            partitions[(topic, index)] = (leader, replicas, isr)
    return BrokerMetadata(brokers, controller, partitions)
