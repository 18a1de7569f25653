#!/usr/bin/python3
"""A reference Herald agent in Python, written from docs/asyncapi.yaml and docs/downloads.md alone.

It speaks the agent protocol 1.4 (message-refused included) over RabbitMQ (pika, AMQP 0-9-1) and downloads components over
HTTP (urllib). Configuration is by environment variables only (see README.md):

    AGENT_ID, RABBITMQ_URL, AGENT_STATE_DIR          required
    AGENT_COMPONENTS, AGENT_INDEPENDENT, AGENT_HEARTBEAT_SECONDS   optional

Threads: pika's BlockingConnection is not thread-safe, so ONE thread (the main one, the "I/O
thread") owns the connection: it runs the AMQP I/O loop (process_data_events, which also keeps
the AMQP connection heartbeats going), publishes every message and sends the protocol heartbeat.
A second thread (the "worker") carries out the commands one at a time, in arrival order; it
never touches pika: it hands messages to publish to the I/O thread through an outbox and asks it
to basic.ack deliveries through a queue of calls. So heartbeats keep going during a long download.

Logs: one JSON line per thing done on stdout ({"event", "time", ...}); warnings on stderr.
"""

import bz2
import collections
import hashlib
import http.client
import json
import os
import random
import re
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib
from datetime import datetime, timezone

import pika
import pika.exceptions

try:  # zstd-patch-from patches and zstd-coded full files need Debian's python3-zstandard
    import zstandard
except ImportError:  # pragma: no cover - depends on the host
    zstandard = None

AGENT_VERSION = "0.1.0-python"

# Section 1: the names of the topology. The server declares the exchanges; we never do.
INBOUND_EXCHANGE = "herald.agent.inbound"
OUTBOUND_EXCHANGE = "herald.agent.outbound"

# Section 6a: the patch formats this agent applies (never herald-delta-1 here). Declared in hello
# (`patchFormats`) and listed in `formats=` on every download with `from=`; both lists must agree.
PATCH_FORMATS = ["bsdiff40"] + (["zstd-patch-from"] if zstandard else [])
# Section 6: the codings we can decode for a full file.
ACCEPT_ENCODING = "zstd, gzip" if zstandard else "gzip"

AGENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TYPE_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
VERSION_RE = re.compile(r"^\d{1,9}(\.\d{1,9}){0,3}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

HANDLED_KEEP = 500          # section 3: "a few hundred is plenty"
DOWNLOAD_TRIES = 20         # section 6: give up after about 20 tries
RESPONSE_TIMEOUT_S = 30     # docs/downloads.md: bound the wait for the response to begin
ACK_PUBLISH_WAIT_S = 5      # the worker waits this long for its `ack` to be confirmed before downloading
QUICK_FINISH_S = 5          # on SIGTERM: how long the command in hand may take to finish
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.2, 5.0   # section 8


# --------------------------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------------------------

_log_lock = threading.RLock()  # re-entrant: the signal handler logs too


def now_rfc3339():
    """Section 2: RFC 3339 with an offset, milliseconds, e.g. 2025-05-01T12:00:00.000Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log(event, **details):
    _emit(sys.stdout, event, details)


def warn(event, **details):
    _emit(sys.stderr, event, dict(details, level="warning"))


def _emit(stream, event, details):
    line = json.dumps(dict({"event": event, "time": now_rfc3339()}, **details), default=str)
    with _log_lock:
        stream.write(line + "\n")
        stream.flush()


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------

class ConfigError(Exception):
    pass


def load_config(env):
    agent_id = env.get("AGENT_ID", "")
    if not AGENT_ID_RE.match(agent_id):
        raise ConfigError("AGENT_ID must be 1 to 64 characters of A-Z a-z 0-9 - _ (got %r)" % agent_id)
    urls = [u.strip() for u in env.get("RABBITMQ_URL", "").split(",") if u.strip()]
    if not urls:
        raise ConfigError("RABBITMQ_URL is required (comma-separated for a cluster)")
    for u in urls:
        if urllib.parse.urlsplit(u).scheme not in ("amqp", "amqps"):
            raise ConfigError("RABBITMQ_URL: %r is not an amqp:// or amqps:// URL" % u)
    state_dir = env.get("AGENT_STATE_DIR", "")
    if not state_dir:
        raise ConfigError("AGENT_STATE_DIR is required")
    seed = {}
    for item in [s.strip() for s in env.get("AGENT_COMPONENTS", "").split(",") if s.strip()]:
        ctype, sep, version = item.partition("=")
        ctype, version = ctype.strip(), version.strip()
        if not sep or not TYPE_RE.match(ctype) or len(ctype) > 64 or not VERSION_RE.match(version):
            raise ConfigError("AGENT_COMPONENTS: %r is not type=version" % item)
        seed[ctype] = version
    independent = env.get("AGENT_INDEPENDENT", "false").strip().lower()
    if independent not in ("true", "false", ""):
        raise ConfigError("AGENT_INDEPENDENT must be true or false")
    try:
        heartbeat = float(env.get("AGENT_HEARTBEAT_SECONDS", "") or 30)
    except ValueError:
        raise ConfigError("AGENT_HEARTBEAT_SECONDS must be a number of seconds")
    if not heartbeat > 0:
        raise ConfigError("AGENT_HEARTBEAT_SECONDS must be positive")
    return {
        "agent_id": agent_id,
        "urls": urls,
        "state_dir": os.path.abspath(state_dir),
        "seed": seed,
        "independent": independent == "true",
        "heartbeat_s": heartbeat,
    }


# --------------------------------------------------------------------------------------------
# Versions (ComponentVersion: 1 to 4 numbers, compared part by part, missing parts count as 0)
# --------------------------------------------------------------------------------------------

def version_key(version):
    parts = [int(p) for p in version.split(".")]
    return parts + [0] * (4 - len(parts))


def compare_versions(a, b):
    ka, kb = version_key(a), version_key(b)
    return (ka > kb) - (ka < kb)


# --------------------------------------------------------------------------------------------
# State on disk: installed components, their files, and the commands handled
# --------------------------------------------------------------------------------------------

def write_atomically(path, data):
    """Write to a temporary file in the same directory, fsync, rename over the target."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class State:
    """
    AGENT_STATE_DIR/
      installed.json    {"<type>": {"version": "1.2", "file": "components/<type>/1.2" | null, "sha256": ...}}
      handled.json      [{"commandId": ..., "replies": [<message>, ...]}, ...]  (oldest first)
      components/<type>/<version>   the installed file of each type
      tmp/              downloads in progress
    Everything is replaced atomically (temp file + rename), so a crash leaves the old or the new.
    """

    def __init__(self, root, seed):
        self.root = root
        self.lock = threading.Lock()
        os.makedirs(os.path.join(root, "components"), exist_ok=True)
        os.makedirs(os.path.join(root, "tmp"), exist_ok=True)
        for leftover in os.listdir(os.path.join(root, "tmp")):  # downloads cut by a crash
            try:
                os.unlink(os.path.join(root, "tmp", leftover))
            except OSError:
                pass
        self.installed_path = os.path.join(root, "installed.json")
        self.handled_path = os.path.join(root, "handled.json")
        if os.path.exists(self.installed_path):
            with open(self.installed_path, "rb") as f:
                self.installed = json.load(f)
        else:
            # A new state dir: what AGENT_COMPONENTS says is installed, with no file on disk
            # (so no patch can be applied from it: the first download of each is a full file).
            self.installed = {t: {"version": v, "file": None, "sha256": None} for t, v in seed.items()}
            self._save_installed()
        self.handled = collections.OrderedDict()
        if os.path.exists(self.handled_path):
            with open(self.handled_path, "rb") as f:
                for entry in json.load(f):
                    self.handled[entry["commandId"]] = entry["replies"]

    def tmp_path(self, name):
        return os.path.join(self.root, "tmp", name)

    def installed_list(self):
        """InstalledComponent[] of hello and update-result: one entry per type."""
        with self.lock:
            return [{"type": t, "version": c["version"]} for t, c in sorted(self.installed.items())]

    def version_of(self, ctype):
        with self.lock:
            c = self.installed.get(ctype)
            return c["version"] if c else None

    def file_of(self, ctype):
        """The path of the installed file of a type, or None (seeded version, or never installed)."""
        with self.lock:
            c = self.installed.get(ctype)
            if not c or not c.get("file"):
                return None
            path = os.path.join(self.root, c["file"])
        return path if os.path.isfile(path) else None

    def install(self, ctype, version, verified_tmp, sha256):
        """Atomic install of a verified file: rename it into place, then record it, then drop the old one."""
        rel = os.path.join("components", ctype, version)
        os.makedirs(os.path.join(self.root, "components", ctype), exist_ok=True)
        os.replace(verified_tmp, os.path.join(self.root, rel))
        with self.lock:
            old = self.installed.get(ctype)
            self.installed[ctype] = {"version": version, "file": rel, "sha256": sha256}
            self._save_installed()
        if old and old.get("file") and old["file"] != rel:
            try:
                os.unlink(os.path.join(self.root, old["file"]))
            except OSError:
                pass

    def _save_installed(self):
        write_atomically(self.installed_path, json.dumps(self.installed, indent=1, sort_keys=True).encode())

    # De-duplication memory (section 3), kept across restarts.
    def replies_for(self, command_id):
        with self.lock:
            replies = self.handled.get(command_id)
            return list(replies) if replies is not None else None

    def remember(self, command_id, replies):
        with self.lock:
            self.handled[command_id] = replies
            self.handled.move_to_end(command_id)
            while len(self.handled) > HANDLED_KEEP:
                self.handled.popitem(last=False)
            data = [{"commandId": k, "replies": v} for k, v in self.handled.items()]
            write_atomically(self.handled_path, json.dumps(data).encode())


# --------------------------------------------------------------------------------------------
# Patch formats (section 6a)
# --------------------------------------------------------------------------------------------

class PatchError(Exception):
    pass


def _offtin(b, i):
    """bsdiff's 8-byte integer: little-endian sign and magnitude (the sign in the top bit)."""
    if i + 8 > len(b):
        raise PatchError("truncated integer")
    v = int.from_bytes(b[i:i + 8], "little") & (2 ** 63 - 1)
    return -v if b[i + 7] & 0x80 else v


def _add_bytes(diff, old_slice):
    """Byte-wise (a + b) mod 256 of two equal-length byte strings, at C speed.

    The loop of section 6a does this one byte at a time, which takes many seconds for a 16 MiB
    file in CPython. Here each byte gets a 16-bit lane (a zero byte above it), both are read as
    one big integer and added: a lane's carry lands in its own zero byte, never in the next lane.
    """
    n = len(diff)
    if n == 0:
        return b""
    a, b = bytearray(2 * n), bytearray(2 * n)
    a[0::2], b[0::2] = diff, old_slice
    s = (int.from_bytes(a, "little") + int.from_bytes(b, "little")).to_bytes(2 * n + 1, "little")
    return s[0:2 * n:2]


def bspatch(old, patch):
    """BSDIFF40 (section 6a). Raises PatchError on anything malformed."""
    if patch[:8] != b"BSDIFF40" or len(patch) < 32:
        raise PatchError("not a BSDIFF40 patch")
    ctrl_len, diff_len, new_size = _offtin(patch, 8), _offtin(patch, 16), _offtin(patch, 24)
    if ctrl_len < 0 or diff_len < 0 or new_size < 0 or 32 + ctrl_len + diff_len > len(patch):
        raise PatchError("bad BSDIFF40 header")
    try:
        ctrl = bz2.decompress(patch[32:32 + ctrl_len])
        diff = bz2.decompress(patch[32 + ctrl_len:32 + ctrl_len + diff_len])
        extra = bz2.decompress(patch[32 + ctrl_len + diff_len:])
    except (OSError, ValueError, EOFError) as e:
        raise PatchError("bad bzip2 block: %s" % e)
    new, old_pos, d, e = bytearray(), 0, 0, 0
    for i in range(0, len(ctrl) - len(ctrl) % 24, 24):
        x, y, z = _offtin(ctrl, i), _offtin(ctrl, i + 8), _offtin(ctrl, i + 16)
        if x < 0 or y < 0 or len(new) + x + y > new_size or d + x > len(diff) or e + y > len(extra):
            raise PatchError("control triple out of bounds")
        # Old bytes outside the old file count as 0, as in bspatch.
        lo, hi = max(old_pos, 0), min(old_pos + x, len(old))
        if lo < hi:
            base = bytes(lo - old_pos) + old[lo:hi] + bytes(old_pos + x - hi)
        else:
            base = bytes(x)
        new += _add_bytes(diff[d:d + x], base)
        new += extra[e:e + y]
        d, e, old_pos = d + x, e + y, old_pos + x + z
    if len(new) != new_size:
        raise PatchError("the patch does not rebuild a file of its size")
    return bytes(new)


def zstd_patch_from(old, patch):
    """zstd-patch-from: one frame compressed with the old file as a raw-content dictionary."""
    if zstandard is None:
        raise PatchError("zstandard is not available")
    try:
        dictionary = zstandard.ZstdCompressionDict(old, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        return zstandard.ZstdDecompressor(dict_data=dictionary, max_window_size=2 ** 31).decompress(patch)
    except zstandard.ZstdError as e:
        raise PatchError("zstd: %s" % e)


APPLIERS = {"bsdiff40": bspatch, "zstd-patch-from": zstd_patch_from}


# --------------------------------------------------------------------------------------------
# Downloads (section 6, docs/downloads.md)
# --------------------------------------------------------------------------------------------

class DownloadFailed(Exception):
    """The component cannot be fetched now: report the update failed (the message is the error)."""


class GaveUp(DownloadFailed):
    """About 20 tries, all answered 503 (or not at all)."""


class Aborted(Exception):
    """The process is shutting down: stop, report nothing."""


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def with_query(url, params):
    """Append query parameters to `url`, which may already carry a query string of its own."""
    parts = urllib.parse.urlsplit(url)
    extra = "&".join("%s=%s" % (k, urllib.parse.quote(v, safe=",.")) for k, v in params)
    query = parts.query + "&" + extra if parts.query else extra
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def retry_after_seconds(value):
    """Retry-After in seconds (or an HTTP date); 1 when absent or unreadable."""
    if value is None:
        return 1.0
    value = value.strip()
    try:
        return max(0.0, float(int(value)))
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return 1.0


class Response:
    """A completed download: the body (as sent, still coded) in a file, and the headers."""

    def __init__(self, path, headers, size):
        self.path, self.headers, self.size = path, headers, size

    def header(self, name):
        return self.headers.get(name)


class Downloader:
    def __init__(self, state, abort_event):
        self.state = state
        self.abort = abort_event
        # No proxies from the environment surprise us; redirects are followed as urllib does.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _sleep(self, seconds):
        if self.abort.wait(seconds):
            raise Aborted()

    def get(self, url, label):
        """GET with the retry rules of section 6; the body goes to a temp file.

        503 + Retry-After: wait that plus up to 1 s of jitter and ask again; a connection error
        (or a transfer cut short) counts as a 503 with Retry-After: 1, and a cut transfer is
        resumed with Range/If-Range; 400/404/410: failed at once; about 20 tries in all.
        """
        path = self.state.tmp_path("dl-" + uuid.uuid4().hex)
        etag, have = None, 0          # what a cut transfer left, to resume from
        try:
            for attempt in range(1, DOWNLOAD_TRIES + 1):
                if self.abort.is_set():
                    raise Aborted()
                headers = {"Accept-Encoding": ACCEPT_ENCODING, "User-Agent": "herald-python-agent/" + AGENT_VERSION}
                if have and etag:
                    headers["Range"] = "bytes=%d-" % have
                    headers["If-Range"] = etag
                request = urllib.request.Request(url, headers=headers)
                try:
                    response = self.opener.open(request, timeout=RESPONSE_TIMEOUT_S)
                except urllib.error.HTTPError as e:
                    status, retry = e.code, e.headers.get("Retry-After")
                    e.close()
                    if status == 503:
                        seconds = retry_after_seconds(retry)
                        log("download-retry", component=label, url=url, status=503, seconds=seconds, attempt=attempt)
                        if attempt == DOWNLOAD_TRIES:
                            break
                        self._sleep(seconds + random.random())
                        continue
                    if status == 416 and have:      # our partial file is useless: start over
                        have, etag = 0, None
                        continue
                    if status >= 500:               # not described: handled like a connection error
                        log("download-retry", component=label, url=url, status=status, seconds=1, attempt=attempt)
                        if attempt == DOWNLOAD_TRIES:
                            break
                        self._sleep(1 + random.random())
                        continue
                    raise DownloadFailed("HTTP %d" % status)   # 400, 404, 410 and other 4xx
                except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                    log("download-retry", component=label, url=url, status=None, seconds=1, attempt=attempt, error=str(e))
                    if attempt == DOWNLOAD_TRIES:
                        break
                    self._sleep(1 + random.random())
                    continue
                with response:
                    if response.status == 206:
                        start = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
                        if not start or int(start.group(1)) != have:
                            have, etag = 0, None   # not the range we asked for
                            continue
                        mode = "ab"
                    else:
                        have, mode = 0, "wb"
                    etag = response.headers.get("ETag")
                    try:
                        with open(path, mode) as f:
                            while True:
                                if self.abort.is_set():
                                    raise Aborted()
                                chunk = response.read(1 << 16)
                                if not chunk:
                                    break
                                f.write(chunk)
                                have += len(chunk)
                    except (OSError, http.client.HTTPException) as e:
                        log("download-retry", component=label, url=url, status=None, seconds=1, attempt=attempt,
                            error="transfer cut after %d bytes: %s" % (have, e))
                        if attempt == DOWNLOAD_TRIES:
                            break
                        self._sleep(1 + random.random())
                        continue
                    log("downloaded", component=label, url=url, status=response.status, bytes=have,
                        delivery=response.headers.get("X-Herald-Delivery"),
                        encoding=response.headers.get("Content-Encoding"),
                        patchFormat=response.headers.get("X-Herald-Patch-Format"))
                    return Response(path, response.headers, have)
            raise GaveUp("gave up after %d tries" % DOWNLOAD_TRIES)
        except BaseException:
            try:
                os.unlink(path)
            except OSError:
                pass
            raise

    def decode(self, response, limit):
        """Undo Content-Encoding (gzip or zstd) into a new temp file; refuse more than `limit` bytes."""
        coding = (response.header("Content-Encoding") or "identity").strip().lower()
        if coding in ("identity", ""):
            return response.path
        out_path = self.state.tmp_path("dec-" + uuid.uuid4().hex)
        written = 0
        try:
            with open(response.path, "rb") as src, open(out_path, "wb") as dst:
                if coding in ("gzip", "x-gzip"):
                    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    for chunk in iter(lambda: src.read(1 << 16), b""):
                        data = d.decompress(chunk)
                        written += len(data)
                        if written > limit:
                            raise DownloadFailed("the decoded file is larger than its size")
                        dst.write(data)
                    if not d.eof:
                        raise DownloadFailed("the gzip stream is incomplete")
                    dst.write(d.flush())
                elif coding == "zstd" and zstandard is not None:
                    reader = zstandard.ZstdDecompressor(max_window_size=1 << 27).stream_reader(src, read_across_frames=True)
                    for chunk in iter(lambda: reader.read(1 << 16), b""):
                        written += len(chunk)
                        if written > limit:
                            raise DownloadFailed("the decoded file is larger than its size")
                        dst.write(chunk)
                else:
                    raise DownloadFailed("unexpected Content-Encoding %r" % coding)
        except BaseException as e:
            if os.path.exists(out_path):
                os.unlink(out_path)
            if isinstance(e, (zlib.error, OSError)) or (zstandard is not None and isinstance(e, zstandard.ZstdError)):
                raise DownloadFailed("cannot decode %s: %s" % (coding, e))
            raise
        os.unlink(response.path)
        return out_path


# --------------------------------------------------------------------------------------------
# The agent
# --------------------------------------------------------------------------------------------

Delivery = collections.namedtuple("Delivery", "generation tag body")


class Pending:
    """A message in the outbox: published by the I/O thread, removed once the broker confirms it."""

    def __init__(self, message):
        self.message = message
        self.confirmed = threading.Event()
        self.not_before = 0.0


class Agent:
    def __init__(self, config):
        self.cfg = config
        self.agent_id = config["agent_id"]
        self.queue_name = "herald.agent." + self.agent_id
        self.boot_id = str(uuid.uuid4())        # section 4: new per process, kept across reconnects
        self.hostname = (socket.gethostname() or "localhost")[:255]
        self.state = State(config["state_dir"], config["seed"])

        self.connection = None
        self.channel = None
        self.generation = 0                     # counts connections; a delivery tag is only valid on its own
        self.connected = False

        self.deliveries = collections.deque()   # commands received, in arrival order (I/O thread -> worker)
        self.deliveries_cv = threading.Condition()
        self.calls = collections.deque()        # (generation, delivery tag) to basic.ack (worker -> I/O thread)
        self.outbox = collections.OrderedDict() # messageId -> Pending (worker -> I/O thread)
        self.outbox_lock = threading.Lock()

        self.stop_requested = threading.Event()
        self.abort = threading.Event()          # tells a download in progress to stop (shutdown)
        self.busy = False                       # the worker has a command in hand
        self.downloader = Downloader(self.state, self.abort)

    # ---- messages -------------------------------------------------------------------------

    def envelope(self, mtype, **fields):
        """Section 2: every message carries type, schemaVersion 1, a fresh messageId, agentId, sentAt."""
        message = {"type": mtype, "schemaVersion": 1, "messageId": str(uuid.uuid4()),
                   "agentId": self.agent_id, "sentAt": now_rfc3339()}
        message.update(fields)
        return message

    def _publish(self, message):
        """I/O thread only. Persistent, on herald.agent.inbound, routing key agent.<id>.<type>;
        the channel is in confirm mode, so this returns once the broker has confirmed it."""
        properties = pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                          message_id=message["messageId"], type=message["type"])
        body = json.dumps(message, separators=(",", ":")).encode("utf-8")
        self.channel.basic_publish(INBOUND_EXCHANGE, "agent.%s.%s" % (self.agent_id, message["type"]),
                                   body, properties=properties)
        log("sent", message=message)

    def send(self, message, wait=0.0):
        """Any thread: queue a reply for publishing (kept until confirmed, re-sent after a reconnect)."""
        pending = Pending(message)
        with self.outbox_lock:
            self.outbox[message["messageId"]] = pending
        self._wake()
        if wait:
            pending.confirmed.wait(wait)
        return pending

    def _wake(self):
        connection = self.connection
        if connection is not None:
            try:
                connection.add_callback_threadsafe(lambda: None)  # ends process_data_events' wait early
            except Exception:
                pass

    def _flush_outbox(self):
        """I/O thread: publish what the worker queued, in order; drop each once confirmed."""
        while True:
            with self.outbox_lock:
                ready = [p for p in self.outbox.values() if p.not_before <= time.monotonic()]
            if not ready:
                return
            for pending in ready:
                try:
                    self._publish(pending.message)
                except pika.exceptions.NackError:
                    warn("publish-nacked", messageId=pending.message["messageId"], type=pending.message["type"])
                    pending.not_before = time.monotonic() + 1
                    continue
                with self.outbox_lock:
                    self.outbox.pop(pending.message["messageId"], None)
                pending.confirmed.set()

    # ---- connection (sections 1, 4, 8) --------------------------------------------------

    def _parameters(self, url):
        parameters = pika.URLParameters(url)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        if "heartbeat" not in query:
            parameters.heartbeat = 30          # AMQP heartbeats, so a dead TCP connection is noticed
        if "socket_timeout" not in query:
            parameters.socket_timeout = 10
        parameters.connection_attempts = 1
        if url.lower().startswith("amqps") and "ssl_options" not in query:
            # Verify the broker's chain and host name (system CAs; SSL_CERT_FILE to use another).
            parameters.ssl_options = pika.SSLOptions(ssl.create_default_context(), server_hostname=parameters.host)
        return parameters

    def _on_delivery(self, channel, method, properties, body):
        # I/O thread: hand the command to the worker, in arrival order.
        with self.deliveries_cv:
            self.deliveries.append(Delivery(self.generation, method.delivery_tag, body))
            self.deliveries_cv.notify()

    def _connect(self, url):
        safe_url = re.sub(r"//[^@/]*@", "//***@", url)
        log("connecting", url=safe_url)
        self.connection = pika.BlockingConnection(self._parameters(url))
        self.generation += 1
        channel = self.connection.channel()
        channel.confirm_delivery()                                        # 1. a confirm channel
        channel.queue_declare(self.queue_name, durable=False, exclusive=True, auto_delete=True)  # 2.
        channel.queue_bind(self.queue_name, OUTBOUND_EXCHANGE, routing_key=self.agent_id)        # 3.
        channel.basic_qos(prefetch_count=1)
        channel.basic_consume(self.queue_name, self._on_delivery, auto_ack=False)                # 4.
        self.channel = channel
        self.connected = True
        # Section 8: results not confirmed on the last connection go again (safe: the server
        # de-duplicates by messageId), *before* hello.
        self._flush_outbox()
        hello = self.envelope("hello", bootId=self.boot_id, hostname=self.hostname,               # 5.
                              agentVersion=AGENT_VERSION, independentMode=self.cfg["independent"],
                              components=self.state.installed_list(), patchFormats=PATCH_FORMATS)
        self._publish(hello)
        log("connected", url=safe_url, bootId=self.boot_id)

    def _disconnect(self, reason):
        self.connected = False
        self.channel = None
        connection, self.connection = self.connection, None
        if connection is not None:
            try:
                if connection.is_open:
                    connection.close()
            except Exception:
                pass
        log("disconnected", reason=reason)   # expected now and then: the reconnect loop takes over

    def run(self):
        worker = threading.Thread(target=self._work, name="herald-worker", daemon=True)
        worker.start()
        log("started", agentId=self.agent_id, bootId=self.boot_id, patchFormats=PATCH_FORMATS,
            installed=self.state.installed_list(), independentMode=self.cfg["independent"])
        urls, node, delay = self.cfg["urls"], 0, BACKOFF_MIN_S
        while not self.stop_requested.is_set():
            url = urls[node % len(urls)]
            node += 1                           # section 8: each attempt goes to the next node
            try:
                self._connect(url)
                delay = BACKOFF_MIN_S
                self._serve()                   # returns after goodbye on shutdown
                return 0
            except (pika.exceptions.AMQPError, OSError, socket.error, ValueError) as e:
                self._disconnect("%s: %s" % (type(e).__name__, str(e) or repr(e)))
            if self.stop_requested.is_set():
                break
            # 200 ms doubling to 5 s, +-20 % jitter, so a fleet does not come back in step.
            pause = delay * random.uniform(0.8, 1.2)
            log("reconnect-wait", seconds=round(pause, 3))
            if self.stop_requested.wait(pause):
                break
            delay = min(delay * 2, BACKOFF_MAX_S)
        log("stopped", reason="signal while disconnected")
        return 0

    def _serve(self):
        """I/O thread loop: AMQP I/O, basic.acks asked by the worker, the outbox, heartbeats."""
        interval = self.cfg["heartbeat_s"]
        next_beat = time.monotonic() + interval
        while True:
            self.connection.process_data_events(time_limit=min(0.1, interval))
            self._run_calls()
            self._flush_outbox()
            if time.monotonic() >= next_beat:
                # Section 4: with the bootId of the latest hello; only while connected. Also
                # while the worker downloads: that is why downloads are not on this thread.
                self._publish(self.envelope("heartbeat", bootId=self.boot_id))
                next_beat = time.monotonic() + interval
            if self.stop_requested.is_set():
                self._shutdown(next_beat, interval)
                return

    def _run_calls(self):
        while self.calls:
            generation, tag = self.calls.popleft()
            # A delivery tag means something only on the channel that delivered it: a command
            # received before a reconnect died with its queue and cannot be acknowledged now.
            if generation == self.generation and self.channel is not None and self.channel.is_open:
                self.channel.basic_ack(tag)

    def _shutdown(self, next_beat, interval):
        """SIGTERM/SIGINT: take no new command, let the one in hand finish if quick, goodbye."""
        log("stopping")
        try:
            self.channel.basic_cancel(self.channel.consumer_tags[0]) if self.channel.consumer_tags else None
        except pika.exceptions.AMQPError:
            pass
        deadline = time.monotonic() + QUICK_FINISH_S
        while self.busy and time.monotonic() < deadline:
            self.connection.process_data_events(time_limit=0.1)
            self._run_calls()
            self._flush_outbox()
            if time.monotonic() >= next_beat:
                self._publish(self.envelope("heartbeat", bootId=self.boot_id))
                next_beat = time.monotonic() + interval
        if self.busy:
            warn("abandoned", reason="the command in hand did not finish within %d s" % QUICK_FINISH_S)
            self.abort.set()
            deadline = time.monotonic() + 2
            while self.busy and time.monotonic() < deadline:
                self.connection.process_data_events(time_limit=0.1)
        self._run_calls()
        self._flush_outbox()
        self._publish(self.envelope("goodbye", bootId=self.boot_id))
        self.connected = False
        try:
            self.connection.close()
        except pika.exceptions.AMQPError:
            pass
        self.connection = None
        log("stopped", reason="signal")

    # ---- the worker: commands, one at a time, in arrival order (sections 3, 5, 9) -------

    def _work(self):
        while True:
            with self.deliveries_cv:
                while not self.deliveries or self.stop_requested.is_set():
                    self.deliveries_cv.wait(0.5)
                delivery = self.deliveries.popleft()
                self.busy = True
            try:
                self._handle(delivery)
                # Section 3: basic.ack once handled (ignored commands too; never nack/requeue).
                self.calls.append((delivery.generation, delivery.tag))
                self._wake()
            except Aborted:
                warn("command-abandoned", reason="shutting down")
            except Exception as e:  # a bug must not kill the worker: log it, ack, carry on
                warn("command-error", error="%s: %s" % (type(e).__name__, e))
                self.calls.append((delivery.generation, delivery.tag))
                self._wake()
            finally:
                self.busy = False

    def _handle(self, delivery):
        """One command (or something that is not one for us). Raises Aborted on shutdown."""
        try:
            command = json.loads(delivery.body.decode("utf-8"))
            if not isinstance(command, dict):
                raise ValueError("not a JSON object")
        except (UnicodeDecodeError, ValueError) as e:
            warn("ignored", reason="unparseable command: %s" % e)
            return               # section 3: ignore (and basic.ack); never nack/requeue
        ctype = command.get("type")
        if command.get("agentId") is not None and command.get("agentId") != self.agent_id:
            warn("ignored", reason="agentId %r is not ours" % command.get("agentId"), type=ctype)
            return
        if ctype == "message-refused":
            # The server parked one of our messages; nothing to answer.
            warn("message-refused", refusedMessageId=command.get("refusedMessageId"),
                 refusedType=command.get("refusedType"), reason=command.get("reason"),
                 detail=command.get("detail"), suppressed=command.get("suppressed"))
            return
        if ctype not in ("update", "scan"):
            warn("ignored", reason="unknown command type %r" % ctype)
            return
        problem = validate_command(command, self.agent_id)
        if problem:
            warn("ignored", reason="invalid %s command: %s" % (ctype, problem), commandId=command.get("commandId"))
            return

        replies = self.state.replies_for(command["commandId"])
        log("command", command=command, duplicate=replies is not None)
        if replies is not None:
            # Section 3: a command handled before (a copy, or a redelivery after a restart):
            # send the same replies again, the same messageIds, and do nothing else.
            for reply in replies:
                self.send(reply)
            return
        if ctype == "update":
            self._update(command)
        else:
            self._scan(command)
        return

    def _update(self, command):
        # Section 5: the protocol `ack` at once, before downloading (the ack timeout is short).
        ack = self.envelope("ack", commandId=command["commandId"], notificationId=command["notificationId"],
                            attempt=command["attempt"])
        self.send(ack, wait=ACK_PUBLISH_WAIT_S)
        downgrade = set(command.get("downgrade") or [])
        applied, error = [], None
        for target in command["components"]:
            try:
                entry = self._bring_up_to_date(target, target["type"] in downgrade)
            except DownloadFailed as e:
                error = "%s %s: %s" % (target["type"], target["version"], e)
                warn("update-failed", error=error)
                break
            applied.append(entry)
        result = self.envelope("update-result", commandId=command["commandId"],
                               notificationId=command["notificationId"],
                               outcome="failed" if error else "completed", components=applied,
                               installed=self.state.installed_list())
        if error:
            result["error"] = error[:2000]
        # Remember before publishing: after a crash, a copy of the command gets these replies.
        self.state.remember(command["commandId"], [ack, result])
        self.send(result)

    def _bring_up_to_date(self, target, downgrade):
        """One components[] entry: an AppliedComponent, or DownloadFailed."""
        ctype, version = target["type"], target["version"]
        installed = self.state.version_of(ctype)
        if installed is not None:
            order = compare_versions(installed, version)
            # Section 3/5a: never downgrade unless the type is in `downgrade`; nothing to do when
            # we already run it (or, without downgrade, something newer).
            if order == 0 or (order > 0 and not downgrade):
                log("up-to-date", component=ctype, installed=installed, target=version, downgrade=downgrade)
                return {"type": ctype, "fromVersion": installed, "toVersion": installed, "mode": "none", "bytes": 0}
        label = "%s %s" % (ctype, version)
        base = None if downgrade else self.state.file_of(ctype)   # downgrades: full file, no from=
        mode, path, nbytes = None, None, 0
        if base is not None and PATCH_FORMATS:
            try:
                mode, path, nbytes = self._fetch_with_from(target, installed, base, label)
            except PatchError as e:
                warn("patch-failed", component=label, error=str(e))   # fall back to the full file
        if path is None:
            response = self.downloader.get(target["url"], label)
            path = self._verified_full(response, target)
            mode, nbytes = "full", response.size
        self.state.install(ctype, version, path, target["sha256"])
        log("installed", component=ctype, version=version, fromVersion=installed, mode=mode, bytes=nbytes)
        return {"type": ctype, "fromVersion": installed, "toVersion": version, "mode": mode, "bytes": nbytes}

    def _fetch_with_from(self, target, installed, base, label):
        """GET <url>?from=&formats=. Returns (mode, verified file, bytes); PatchError means: fall back to GET <url>."""
        url = with_query(target["url"], [("from", installed), ("formats", ",".join(PATCH_FORMATS))])
        try:
            response = self.downloader.get(url, label)
        except GaveUp as e:
            # A patch still being built is answered 503 + Retry-After: 1 for up to PATCH_WAIT_MS
            # (a minute by default), longer than 20 tries of 1-2 s: the full file needs no build.
            raise PatchError("?from=%s: %s" % (installed, e))
        if (response.header("X-Herald-Delivery") or "full").strip().lower() != "incremental":
            # No patch kept from our version in our formats: this is the full file.
            try:
                return "full", self._verified_full(response, target), response.size
            except DownloadFailed as e:
                raise PatchError("the full file from the ?from= request: %s" % e)
        try:
            fmt = (response.header("X-Herald-Patch-Format") or "").strip()
            if fmt not in APPLIERS or fmt not in PATCH_FORMATS:
                raise PatchError("a patch in format %r, which we did not ask for" % fmt)
            if (response.header("X-Herald-Patch-From") or installed) != installed:
                raise PatchError("a patch from %s, not from %s" % (response.header("X-Herald-Patch-From"), installed))
            # The patch itself against X-Herald-Sha256 (catches a corrupted transfer).
            expected = (response.header("X-Herald-Sha256") or "").strip().lower()
            if sha256_file(response.path) != expected:
                raise PatchError("the patch does not match X-Herald-Sha256")
            with open(base, "rb") as f:
                old = f.read()
            with open(response.path, "rb") as f:
                patch = f.read()
            new = APPLIERS[fmt](old, patch)
            # Whatever the HTTP layer says, only a file with the command's size and sha256.
            if len(new) != target["size"] or hashlib.sha256(new).hexdigest() != target["sha256"]:
                raise PatchError("the rebuilt file does not match the command's sha256/size")
            out = self.state.tmp_path("new-" + uuid.uuid4().hex)
            write_atomically(out, new)
            log("patched", component=label, format=fmt, patchBytes=response.size)
            return "incremental", out, response.size
        finally:
            if os.path.exists(response.path):
                os.unlink(response.path)

    def _verified_full(self, response, target):
        """A full file: check the body against X-Herald-Sha256 (the coded bytes), decode it,
        check the result against the command's sha256 and size. Returns the verified file."""
        path = response.path
        try:
            expected = (response.header("X-Herald-Sha256") or "").strip().lower()
            if expected and sha256_file(response.path) != expected:
                raise DownloadFailed("the body does not match X-Herald-Sha256")
            path = self.downloader.decode(response, target["size"])
            if os.path.getsize(path) != target["size"]:
                raise DownloadFailed("size %d, expected %d" % (os.path.getsize(path), target["size"]))
            digest = sha256_file(path)
            if digest != target["sha256"]:
                raise DownloadFailed("sha256 %s does not match the command's %s" % (digest, target["sha256"]))
            return path
        except BaseException:
            for p in {response.path, path}:   # never install a file with the wrong digest
                if os.path.exists(p):
                    os.unlink(p)
            raise

    def _scan(self, command):
        """Section 9: a stand-in Scan Now (read every installed file), once per commandId.
        A scan command gets no protocol `ack` (that message answers update commands only)."""
        outcome, error, files = "clean", None, 0
        try:
            for item in self.state.installed_list():
                path = self.state.file_of(item["type"])
                if path is not None:
                    sha256_file(path)
                    files += 1
        except OSError as e:
            outcome, error = "failed", "cannot read an installed file: %s" % e
        result = self.envelope("scan-result", commandId=command["commandId"], scanId=command["scanId"],
                               outcome=outcome, threatsFound=0)
        if error:
            result["error"] = error
        log("scanned", files=files, outcome=outcome)
        self.state.remember(command["commandId"], [result])
        self.send(result)


UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def validate_command(command, agent_id):
    """The parts of UpdateCommand/ScanCommand this agent relies on; a problem string, or None."""
    if command.get("schemaVersion") != 1:
        return "schemaVersion %r" % command.get("schemaVersion")
    if command.get("agentId") != agent_id:
        return "agentId"
    for field in ("commandId", "notificationId"):
        if not isinstance(command.get(field), str) or not UUID_RE.match(command[field]):
            return field
    if command["type"] == "scan":
        if not isinstance(command.get("scanId"), str) or not UUID_RE.match(command["scanId"]):
            return "scanId"
        return None
    attempt = command.get("attempt")
    if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
        return "attempt"
    components = command.get("components")
    if not isinstance(components, list) or not components:
        return "components"
    for c in components:
        if not isinstance(c, dict):
            return "components[]"
        if not isinstance(c.get("type"), str) or not TYPE_RE.match(c["type"]):
            return "components[].type"
        if not isinstance(c.get("version"), str) or not VERSION_RE.match(c["version"]):
            return "components[].version"
        if not isinstance(c.get("sha256"), str) or not SHA256_RE.match(c["sha256"]):
            return "components[].sha256"
        if not isinstance(c.get("size"), int) or isinstance(c["size"], bool) or c["size"] < 0:
            return "components[].size"
        if not isinstance(c.get("url"), str) or urllib.parse.urlsplit(c["url"]).scheme not in ("http", "https"):
            return "components[].url"
    downgrade = command.get("downgrade")
    if downgrade is not None and (not isinstance(downgrade, list) or not all(isinstance(t, str) for t in downgrade)):
        return "downgrade"
    return None


def main():
    try:
        config = load_config(os.environ)
    except ConfigError as e:
        warn("config-error", error=str(e))
        return 2
    agent = Agent(config)

    def on_signal(signum, frame):
        log("signal", signal=signal.Signals(signum).name)
        agent.stop_requested.set()
        with agent.deliveries_cv:
            agent.deliveries_cv.notify_all()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return agent.run()


if __name__ == "__main__":
    sys.exit(main())
