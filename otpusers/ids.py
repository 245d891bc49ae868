"""24-hex public ids generated like a MongoDB ObjectId, so that vendor clients see the ids they expect.

Layout (12 bytes): 4-byte big-endian Unix time, 5 random bytes chosen once per process, 3-byte counter
starting at a random value. Ids made later sort after ids made earlier (to the second), which keeps
b-tree inserts at the right edge of the index.
"""

import os
import re
import secrets
import threading
import time

PUBLIC_ID_PATTERN = re.compile(r"^[a-fA-F0-9]{24}$")

_lock = threading.Lock()
_process_id: int | None = None
_process_random = b""
_counter = 0


def new_object_id() -> str:
    global _process_id, _process_random, _counter
    with _lock:
        # A forked worker must not repeat its parent's random part and counter.
        if _process_id != os.getpid():
            _process_id = os.getpid()
            _process_random = secrets.token_bytes(5)
            _counter = secrets.randbelow(1 << 24)
        _counter = (_counter + 1) & 0xFFFFFF
        counter = _counter
        process_random = _process_random
    return f"{int(time.time()) & 0xFFFFFFFF:08x}{process_random.hex()}{counter:06x}"


def normalize_public_id(value: object) -> str | None:
    """The stored (lower-case) form of a public id taken from a request, or None when it is malformed."""
    if isinstance(value, str) and PUBLIC_ID_PATTERN.match(value):
        return value.lower()
    return None
