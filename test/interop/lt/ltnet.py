#!/usr/bin/python3
# ltnet: one long-running controller process that drives N real libtorrent (2.0) sessions on
# loopback, for interop tests and benchmarks. Run it with Debian's interpreter:
#     /usr/bin/python3 test/interop/lt/ltnet.py
# TypeScript drives it through test/helpers/libtorrent.ts (startLtNet).
#
# PROTOCOL (JSON lines; one object per line)
#   stdin  <- commands  {"id": <any>, "cmd": "<name>", ...arguments}
#   stdout -> replies   {"id": <same>, "ok": true, "result": {...}}
#                       {"id": <same>, "ok": false, "error": {"code": "ERR_LT_...", "message": "...", "details"?: {...}}}
#             events    {"event": "<name>", ...fields}            (no "id")
#   stderr -> human logs only. Set LTNET_DEBUG=1 for more of them.
# The process prints {"event": "ready", "libtorrent": "2.0.8.0", "pid": N} once it accepts commands.
# It exits (after destroying every session) on "stop", on EOF of stdin (so a crashed test leaves
# no orphan), on SIGTERM/SIGINT. A watchdog kills it with exit code 3 if shutdown takes > 10 s.
# Error codes: ERR_LT_USAGE (bad arguments), ERR_LT_TIMEOUT (the command's timeout_ms passed),
# ERR_LT_LIBTORRENT (libtorrent refused: exception or error alert), ERR_LT_STATE (e.g. data not
# complete after the check, unknown torrent).
# Hex everywhere for binary: node ids, info hashes (v1 = 40 hex, v2 = 64 hex), keys, samples.
# Every waiting command takes "timeout_ms" (defaults below) and never blocks the loop: other
# commands are served while it waits. Sessions are numbered 0.. in the order "start" made them.
#
# COMMANDS (arguments; -> result)
#   start {sessions: N, profile?: "harness"|"fast"|"stock", settings?: {name: value},
#          bind_host?: "127.0.0.1", link?: "mesh"|"star"|"none", dht_bootstrap?: [[host, port]],
#          min_nodes?: int, peer_log?: bool, events?: [...], timeout_ms?: 10000}
#       -> {sessions: [{session, host, port, dht_port, node_id, dht_nodes}], ms}
#       May be called again: it appends sessions (link/mesh then covers old and new ones).
#       Addresses: without bind_host, session i binds 127.0.{i+1}.2 (its own IP and its own /24,
#       so libtorrent's per-IP limits, per-IP DHT rate limit and /24 routing-table rules treat
#       each session as a separate host); with bind_host every session of this call shares that
#       address. Port: an ephemeral one; TCP and the DHT/uTP UDP socket share it.
#       link "mesh" (default): each new session add_dht_node()s every other session; "star": the
#       new sessions add session 0 (and 0 adds them); "none". dht_bootstrap: extra nodes (e.g. a
#       TypeScript DHT) every new session adds. The reply waits until every new session's routing
#       table holds >= min_nodes nodes (default min(4, contacts) for mesh, min(1, contacts)
#       otherwise); else ERR_LT_TIMEOUT. dht_bootstrap_nodes, LSD, UPnP and NAT-PMP stay off
#       whatever settings say, and every address ltnet dials must be in 127.0.0.0/8.
#       profile "harness" (default): the loopback settings of INTEROP.md (isolation, no DHT rate
#       limits, sample interval 0, many connections per IP, no active-torrent limits, DHT
#       announce of one torrent per session per second). "fast": harness + connection_speed and
#       torrent_connect_boost 1000, TCP only (uTP off both ways), listen_queue_size 1024: the
#       tuned BEP-9 fetch baseline. "stock": libtorrent's defaults except isolation and
#       dht_restrict_routing_ips/dht_restrict_search_ips False (per-IP rate limit 5/s, sample
#       interval 6 h, 30 connections/s...), to test against what the real network runs. With the
#       default per-session /24s, settings {dht_restrict_routing_ips: true, dht_restrict_search_ips:
#       true} also work (checked: 8 sessions still see 7 nodes each); only nodes sharing one /24,
#       e.g. several bbmesh nodes on 127.0.0.1, then count as one per bucket / per lookup.
#       settings override the profile (any libtorrent settings_pack name).
#       peer_log: enable peer_log alerts (costly) so stats counts ut_metadata requests per torrent.
#       events: extra events to emit: "dht_announce" (incoming announce_peer), "dht_get_peers"
#       (incoming get_peers), "peer_connect", "peer_disconnect", "incoming_connection".
#   ping {} -> {sessions: count}
#   add_dht_node {session: i|"all", host, port} -> {}
#   settings {session: i|"all", settings: {...}} -> {}                        (apply_settings)
#   create_torrent {path, piece_length?: 16384, mode?: "v1"|"v2"|"hybrid" (default hybrid),
#                   comment?, creator?, private?: bool}
#       -> {torrent_b64, infohash, v1, v2, name, total_size, num_pieces, files}
#       path is a file or a directory; piece hashes are read from disk (sync: keep data small).
#   seed {session, torrent_b64, save_path, skip_check?: false, timeout_ms?: 30000}
#       -> {infohash, v1, v2, name, total_size, num_pieces, ms}   once the torrent is seeding
#       (data checked against the hashes unless skip_check, which uses libtorrent seed_mode).
#       libtorrent announces it to the DHT by itself: ltnet adds torrents started and not
#       auto-managed, and the first announce goes out at once (24 magnets over 7 sessions reached
#       a node's store within ~100 ms); re-announces then cycle one torrent per session per second
#       (dht_announce_interval 1). Data missing -> ERR_LT_STATE.
#   add_magnet {session, infohash, peers?: [[host, port]], name?, upload_mode?: true,
#               remove_on_metadata?: false, wait_metadata?: false, include_info?: false,
#               timeout_ms?: 30000}
#       -> {infohash} (+ the metadata fields below when wait_metadata)
#       Adds a torrent without data: libtorrent looks for peers (DHT + given peers, like x.pe),
#       announces itself to the DHT, and fetches metadata over BEP 9. upload_mode (default)
#       keeps it from downloading pieces after the metadata. Emits event "metadata":
#       {event, session, infohash, v1, v2, name, total_size, piece_length, num_pieces,
#        files: [[path, size]], pad_files, ms, info_b64?}   (paths relative to the torrent root,
#       "/"-joined; a single-file torrent has one file named after it; pad files left out).
#       Timing: the BEP-9 exchange takes ~1-3 ms, but an outgoing connection may wait for
#       libtorrent's connect tick, so a fetch takes 1 ms .. ~1 s.
#   remove_torrent {session, infohash} -> {}
#   download {session, torrent_b64 | infohash, save_path, peers: [[host, port]], timeout_ms?: 60000}
#       -> {infohash, v1, v2, name, num_pieces, pieces_valid, hash_failures, bytes, ms}
#       Adds the torrent (from the .torrent, or as a magnet when only infohash is given) with the
#       given peers, downloads every piece into save_path (an existing directory) and replies once
#       it is seeding. pieces_valid counts the pieces libtorrent holds: it only marks a piece as
#       had after its hash check passed. hash_failures counts hash_failed alerts (a peer sent bad
#       bytes). bytes is total_wanted_done. Not done within the timeout -> ERR_LT_TIMEOUT.
#   fetch_metadata {session, items: [{infohash, peers?: [[host, port]]}], timeout_ms?: 60000}
#       -> {count, fetched, failed: [infohash], wall_ms, fetches_per_s, latency_ms: {p50, p95, max}}
#       The BEP-9 baseline: adds all (async_add_torrent, upload_mode), removes each torrent once
#       its metadata arrives; wall time from the first add to the last metadata_received_alert.
#       No "metadata" events. Use a session started with profile "fast" for the tuned baseline.
#   sample_infohashes {session, host, port, target?: hex (random), timeout_ms?: 5000}
#       -> {host, port, num_infohashes, num_samples, samples: [hex], interval, nodes: [[id, host, port]], ms}
#       Replies are matched by endpoint, first in first out. No answer -> ERR_LT_TIMEOUT.
#   dht_get_peers {session, infohash, min_peers?: 1, timeout_ms?: 5000}
#       -> {peers: [[host, port]], timed_out, ms}    replies once >= min_peers distinct peers are
#       known, else at the timeout with what was found (no error). A v2 hash is truncated to 20
#       bytes, as BEP 52 announces it.
#   dht_get_mutable {session, public_key, salt?: "" (utf-8) | salt_hex, raw?: false,
#                    raw_nodes?: [[host, port]], timeout_ms?: 5000}
#       -> {found, seq, signature, value_hex, value_text, authoritative, verified, raw_from, ms}
#       libtorrent checks the signature: an item it reports is verified (verified=true); a bad
#       one is never reported (found=false). value_hex is the bencoded value. The binding cannot
#       hand out a non-string value, so for those (or with raw=true) ltnet asks the nodes itself
#       with a raw KRPC get (the harness sessions + raw_nodes) and keeps the answer whose seq and
#       signature equal libtorrent's: raw_from says which node gave it. value_text is libtorrent's
#       own rendering of the value (alert message).
#   dht_put_mutable {session, seed: hex(32), public_key: hex(32), value: utf-8 | value_hex: raw
#                    bytes of a string, salt?, timeout_ms?: 5000}
#       -> {target, seq, signature, num_success, ms}. The binding can only store a string value;
#       libtorrent signs it (secret key = sha512(seed) clamped) and picks seq = current + 1.
#   dht_put_immutable {session, value_hex: bencoded value | value: utf-8 string, timeout_ms?: 5000}
#       -> {target, num_success, ms}
#   dht_get_immutable {session, target, timeout_ms?: 5000} -> {found, value_hex, value_text, ms}
#   dht_nodes {session, timeout_ms?: 3000} -> {node_id, nodes: [[id, host, port]]}  (routing table)
#   stats {session, counters?: [name], timeout_ms?: 3000}
#       -> {node_id, dht_nodes, dht_node_cache, dht_torrents, dht_peers, dht_immutable_data,
#           dht_mutable_data, dht_in: {messages, dropped, ping, find_node, get_peers, announce_peer,
#           get, put, sample_infohashes}, incoming_connections, num_incoming_metadata,
#           num_outgoing_metadata, num_peers_connected, alerts_dropped, counters: {name: value},
#           torrents: [{infohash, v1, v2, name, kind, state, has_metadata, incoming_peers,
#                       outgoing_peers, disconnects, metadata_requests_in, metadata_pieces_out,
#                       num_peers, total_upload, total_payload_upload}]}
#       incoming_peers counts peer_connect_alert "incoming" for that torrent: one per inbound
#       peer connection that got past the handshake (a BEP-9 fetch from a TypeScript fetcher is
#       one). metadata_requests_in / metadata_pieces_out come from peer_log alerts and stay 0
#       unless the session was started with peer_log. num_incoming_metadata/num_outgoing_metadata
#       are libtorrent's session counters of ut_metadata messages received/sent.
#   stop {} -> {} then the process exits 0 after destroying every session.

import base64
import hashlib
import json
import os
import select
import signal
import socket
import sys
import tempfile
import shutil
import threading
import time
import warnings

warnings.simplefilter('ignore', DeprecationWarning)

try:
    import libtorrent as lt
except ImportError as exc:  # pragma: no cover - checked by requireLibtorrent() on the TS side
    sys.stderr.write(f'ltnet: python3-libtorrent is not installed ({exc}): run .ci/install-system-deps\n')
    sys.exit(2)

DEBUG = os.environ.get('LTNET_DEBUG') == '1'
TICK_S = 0.05                  # longest sleep of the loop; alerts also wake it via an fd
SHUTDOWN_WATCHDOG_S = 10.0
STATS_POLL_S = 0.1
MAX_LINE = 64 * 1024 * 1024    # one command line (torrent_b64 of a big torrent fits)

A = lt.alert.category_t
BASE_ALERT_MASK = (A.error_notification | A.status_notification | A.dht_notification
                   | A.dht_operation_notification | A.connect_notification | A.peer_notification
                   | A.storage_notification)

# Settings every session gets: keep it on loopback and off the public DHT (INTEROP.md).
ISOLATION = {
    'enable_dht': True,
    'dht_bootstrap_nodes': '',          # else the DHT starts with the public router
    'enable_lsd': False,
    'enable_upnp': False,
    'enable_natpmp': False,
    'enable_ip_notifier': False,
    'dht_restrict_routing_ips': False,  # else one node per /24 in a bucket: loopback is one /24
    'dht_restrict_search_ips': False,   # else a lookup visits one node per /24
    'alert_queue_size': 200000,
}
HARNESS = {
    'dht_block_ratelimit': 1000000,     # default 5/s per IP blocks a burst for 300 s
    'dht_upload_rate_limit': 100000000,
    'dht_sample_infohashes_interval': 0,  # default: one cached sample for 6 h
    'allow_multiple_connections_per_ip': True,
    'listen_queue_size': 1024,
    'enable_outgoing_utp': False,       # TCP: stable timings
    'connections_limit': 20000,
    'active_downloads': -1,             # default 3: queued torrents never announce
    'active_seeds': -1,
    'active_limit': -1,
    'active_dht_limit': -1,
    'active_checking': 16,
    'dht_announce_interval': 1,         # one torrent per session per second (min 1 s in lt)
    'dht_max_torrents': 100000,
    'dht_max_dht_items': 100000,
}
FAST = dict(HARNESS, **{
    'connection_speed': 1000,
    'torrent_connect_boost': 1000,
    'enable_incoming_utp': False,
    'enable_outgoing_utp': False,
})
PROFILES = {'harness': HARNESS, 'fast': FAST, 'stock': {}}
EXTRA_EVENTS = {'dht_announce', 'dht_get_peers', 'peer_connect', 'peer_disconnect', 'incoming_connection'}


def log(msg):
    sys.stderr.write(f'ltnet: {msg}\n')
    sys.stderr.flush()


class CommandError(Exception):
    def __init__(self, code, message, details=None):
        super().__init__(message)
        self.code = code
        self.details = details


def usage(msg):
    return CommandError('ERR_LT_USAGE', msg)


def now():
    return time.monotonic()


def ms_since(t0):
    return round((now() - t0) * 1000, 3)


# ---------------------------------------------------------------- small codecs

def bencode(x):
    if isinstance(x, bool):
        raise TypeError('bool')
    if isinstance(x, int):
        return b'i%de' % x
    if isinstance(x, str):
        x = x.encode()
    if isinstance(x, (bytes, bytearray)):
        return b'%d:%s' % (len(x), bytes(x))
    if isinstance(x, list):
        return b'l' + b''.join(bencode(i) for i in x) + b'e'
    if isinstance(x, dict):
        items = sorted(((k.encode() if isinstance(k, str) else k), v) for k, v in x.items())
        return b'd' + b''.join(bencode(k) + bencode(v) for k, v in items) + b'e'
    raise TypeError(type(x).__name__)


def bdecode_at(buf, i, depth=0):
    """Decode one value at buf[i:]; returns (value, end). Dicts keep bytes keys."""
    if depth > 64 or i >= len(buf):
        raise ValueError('bencode: truncated or too deep')
    c = buf[i:i + 1]
    if c == b'i':
        j = buf.index(b'e', i)
        return int(buf[i + 1:j]), j + 1
    if c == b'l':
        out, i = [], i + 1
        while buf[i:i + 1] != b'e':
            v, i = bdecode_at(buf, i, depth + 1)
            out.append(v)
        return out, i + 1
    if c == b'd':
        out, i = {}, i + 1
        while buf[i:i + 1] != b'e':
            k, i = bdecode_at(buf, i, depth + 1)
            v, i = bdecode_at(buf, i, depth + 1)
            out[k] = v
        return out, i + 1
    if c.isdigit():
        j = buf.index(b':', i)
        n = int(buf[i:j])
        if n < 0 or j + 1 + n > len(buf):
            raise ValueError('bencode: bad string length')
        return bytes(buf[j + 1:j + 1 + n]), j + 1 + n
    raise ValueError('bencode: bad byte')


def dict_spans(buf, i):
    """Spans (start, end) of the values of the dict at buf[i]: raw bytes of a value, no re-encoding."""
    if buf[i:i + 1] != b'd':
        raise ValueError('not a dict')
    spans, i = {}, i + 1
    while buf[i:i + 1] != b'e':
        k, i = bdecode_at(buf, i)
        _, j = bdecode_at(buf, i)
        spans[k] = (i, j)
        i = j
    return spans


def hexb(h):
    """sha1_hash / sha256_hash / bytes -> hex."""
    if isinstance(h, (bytes, bytearray)):
        return bytes(h).hex()
    return h.to_bytes().hex()


def unhex(s, sizes, what):
    if not isinstance(s, str):
        raise usage(f'{what} must be a hex string')
    try:
        b = bytes.fromhex(s)
    except ValueError:
        raise usage(f'{what} is not hex') from None
    if len(b) not in sizes:
        raise usage(f'{what} must be {" or ".join(str(n * 2) for n in sizes)} hex digits')
    return b


def endpoint(host, port, what='endpoint'):
    if not isinstance(host, str) or not isinstance(port, int) or not 0 < port < 65536:
        raise usage(f'{what} needs a host string and a port 1..65535')
    if not host.startswith('127.'):
        raise usage(f'{what} {host}: ltnet dials 127.0.0.0/8 only')
    return (host, port)


def peers_arg(v, what='peers'):
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(p, list) and len(p) == 2 for p in v):
        raise usage(f'{what} must be a list of [host, port]')
    return [endpoint(p[0], p[1], what) for p in v]


def ih_to_info_hash_t(b):
    if len(b) == 20:
        return lt.info_hash_t(lt.sha1_hash(b))
    return lt.info_hash_t(lt.sha256_hash(b))


def info_hashes_hex(ihs):
    v1 = hexb(ihs.v1) if ihs.has_v1() else None
    v2 = hexb(ihs.v2) if ihs.has_v2() else None
    return v1, v2


def loopback_host(i):
    k = i + 1
    if k > 255 * 256:
        raise usage('too many sessions')
    return f'127.{k // 256}.{k % 256}.2'


def torrent_files(ti):
    fs = ti.files()
    name = ti.name()
    files, pads = [], 0
    for k in range(fs.num_files()):
        if fs.file_flags(k) & fs.flag_pad_file:
            pads += 1
            continue
        p = fs.file_path(k).replace(os.sep, '/')
        if p.startswith(name + '/'):
            p = p[len(name) + 1:]
        files.append([p, fs.file_size(k)])
    return files, pads


def metadata_fields(ti, include_info=False):
    files, pads = torrent_files(ti)
    v1, v2 = info_hashes_hex(ti.info_hashes())
    out = {'v1': v1, 'v2': v2, 'name': ti.name(), 'total_size': sum(f[1] for f in files),
           'piece_length': ti.piece_length(), 'num_pieces': ti.num_pieces(), 'files': files,
           'pad_files': pads}
    if include_info:
        out['info_b64'] = base64.b64encode(bytes(ti.info_section())).decode()
    return out


def item_value_hex(a):
    """The bencoded value of a DHT item alert, hex. The binding renders `item` as a dict with a
    'value' only for string values; any other value (or none) raises: None then."""
    try:
        item = a.item
    except RuntimeError:
        return None
    v = item.get('value') if isinstance(item, dict) else item
    if isinstance(v, str):
        v = v.encode('utf-8')
    return bencode(v).hex() if isinstance(v, bytes) else None


def alert_salt(a):
    """The salt of a DHT item alert as bytes; None when the binding cannot decode it (it reads the
    salt as UTF-8, so a binary salt raises): callers then match on the key alone."""
    try:
        s = a.salt
    except (UnicodeDecodeError, RuntimeError):
        return None
    return s.encode('utf-8') if isinstance(s, str) else bytes(s)


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100 * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


# ---------------------------------------------------------------- state

class TorrentRec:
    def __init__(self, session, handle, key, kind):
        self.session = session
        self.handle = handle
        self.key = key
        self.kind = kind                   # 'seed' | 'magnet' | 'fetch'
        self.v1 = None
        self.v2 = None
        self.name = None
        self.added = now()
        self.has_metadata = False
        self.remove_on_metadata = False
        self.include_info = False
        self.emit_metadata = True
        self.incoming_peers = 0
        self.outgoing_peers = 0
        self.disconnects = 0
        self.metadata_requests_in = 0
        self.metadata_pieces_out = 0


class Session:
    def __init__(self, index, ses, host, events, peer_log):
        self.index = index
        self.ses = ses
        self.host = host
        self.port = ses.listen_port()
        self.dht_port = None
        self.tcp_port = None
        self.listen_error = None
        self.node_id = None
        self.events = events
        self.peer_log = peer_log
        self.by_handle = {}                # hash(torrent_handle) -> TorrentRec
        self.by_ih = {}                    # hex v1 / v2 / key -> TorrentRec
        self.dht_nodes = 0
        self.alerts_dropped = 0
        self.incoming_connections = 0

    def info(self):
        return {'session': self.index, 'host': self.host, 'port': self.tcp_port or self.port,
                'dht_port': self.dht_port or self.port, 'node_id': self.node_id,
                'dht_nodes': self.dht_nodes}

    def read_node_id(self):
        try:
            st = self.ses.dht_state()      # deprecated but the only way to read the id in 2.0.8
            ids = st.get(b'node-id') or []
            if ids:
                self.node_id = bytes(ids[0])[:20].hex()
        except Exception as exc:  # noqa: BLE001 - the id is informative only
            log(f'session {self.index}: cannot read node id: {exc}')

    def index_torrent(self, rec):
        self.by_handle[hash(rec.handle)] = rec
        for k in (rec.key, rec.v1, rec.v2):
            if k:
                self.by_ih[k] = rec

    def drop_torrent(self, rec):
        self.by_handle.pop(hash(rec.handle), None)
        for k in (rec.key, rec.v1, rec.v2):
            if k and self.by_ih.get(k) is rec:
                del self.by_ih[k]

    def find(self, ih_hex):
        rec = self.by_ih.get(ih_hex.lower()) if isinstance(ih_hex, str) else None
        if rec is None:
            raise CommandError('ERR_LT_STATE', f'session {self.index} has no torrent {ih_hex}')
        return rec


class Pending:
    """A command waiting for alerts. on_alert returns True once it has replied."""

    def __init__(self, net, cid, session, timeout_ms):
        self.net = net
        self.id = cid
        self.session = session
        self.t0 = now()
        self.deadline = self.t0 + timeout_ms / 1000
        self.done = False

    def reply(self, result):
        if not self.done:
            self.done = True
            self.net.reply(self.id, result)

    def fail(self, code, message, details=None):
        if not self.done:
            self.done = True
            self.net.error(self.id, code, message, details)

    def on_alert(self, sess, a):
        pass

    def on_tick(self):
        pass

    def on_timeout(self):
        self.fail('ERR_LT_TIMEOUT', f'no answer within {round((self.deadline - self.t0) * 1000)} ms')


class RawKrpc:
    """A tiny KRPC client for raw `get` (to read values the binding cannot hand out). It keeps
    answering queries until stop, since libtorrent may add it to routing tables (INTEROP.md)."""

    def __init__(self, host):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.setblocking(False)
        self.id = os.urandom(20)
        self.tid = 0
        self.waiters = {}                  # tid -> callback(endpoint, raw packet, spans)

    def fileno(self):
        return self.sock.fileno()

    def query(self, ep, q, args, cb):
        self.tid = (self.tid + 1) & 0xffff
        tid = self.tid.to_bytes(2, 'big')
        args = dict(args, id=self.id)
        pkt = bencode({'t': tid, 'y': 'q', 'q': q, 'a': args, 'ro': 1})
        self.waiters[tid] = cb
        try:
            self.sock.sendto(pkt, ep)
        except OSError as exc:
            log(f'raw krpc send to {ep}: {exc}')
        return tid

    def forget(self, tid):
        self.waiters.pop(tid, None)

    def on_readable(self):
        for _ in range(256):
            try:
                pkt, ep = self.sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log(f'raw krpc recv: {exc}')
                return
            try:
                msg, _ = bdecode_at(pkt, 0)
                if not isinstance(msg, dict):
                    continue
                y = msg.get(b'y')
                if y == b'q':
                    self.answer(ep, msg)
                elif y in (b'r', b'e'):
                    cb = self.waiters.pop(msg.get(b't'), None)
                    if cb is not None:
                        cb(ep, pkt, msg)
            except (ValueError, IndexError):
                continue

    def answer(self, ep, msg):
        q = msg.get(b'q')
        r = {'id': self.id}
        if q in (b'find_node', b'get_peers', b'get', b'sample_infohashes'):
            r['nodes'] = b''
        if q in (b'get_peers', b'get'):
            r['token'] = b'ltnet'
        if q == b'sample_infohashes':
            r.update({'interval': 0, 'num': 0, 'samples': b''})
        try:
            self.sock.sendto(bencode({'t': msg.get(b't', b''), 'y': 'r', 'r': r}), ep)
        except OSError:
            pass

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------- pending commands

class StartWait(Pending):
    def __init__(self, net, cid, sessions, min_nodes, timeout_ms, t0):
        super().__init__(net, cid, None, timeout_ms)
        self.sessions = sessions
        self.min_nodes = min_nodes
        self.t0 = t0
        self.next_poll = 0

    def ready(self):
        return all(s.dht_port and s.tcp_port and s.dht_nodes >= self.min_nodes for s in self.sessions)

    def on_tick(self):
        for s in self.sessions:
            if s.listen_error:
                return self.fail('ERR_LT_LIBTORRENT', f'session {s.index}: {s.listen_error}')
        if self.ready():
            for s in self.sessions:
                if s.node_id is None:
                    s.read_node_id()
            return self.reply({'sessions': [s.info() for s in self.sessions], 'ms': ms_since(self.t0)})
        if now() >= self.next_poll:
            self.next_poll = now() + STATS_POLL_S
            for s in self.sessions:
                s.ses.post_dht_stats()

    def on_timeout(self):
        self.fail('ERR_LT_TIMEOUT', f'DHT not up: wanted {self.min_nodes} nodes per session',
                  {'sessions': [s.info() for s in self.sessions]})


class SeedWait(Pending):
    def __init__(self, net, cid, sess, rec, timeout_ms):
        super().__init__(net, cid, sess, timeout_ms)
        self.rec = rec
        self.checked = False

    def on_alert(self, sess, a):
        if sess is not self.session or a.get('handle_hash') != hash(self.rec.handle):
            return
        kind = a['type']
        if kind in ('torrent_error', 'file_error'):
            return self.fail('ERR_LT_LIBTORRENT', a['message'])
        if kind in ('torrent_checked', 'state_changed', 'torrent_finished'):
            if kind == 'torrent_checked':
                self.checked = True
            self.check()

    def on_tick(self):
        self.check()

    def check(self):
        st = self.rec.handle.status()
        if st.is_seeding:
            r = self.rec
            return self.reply({'infohash': r.key, 'v1': r.v1, 'v2': r.v2, 'name': r.name,
                               'total_size': st.total_wanted, 'num_pieces': st.num_pieces,
                               'ms': ms_since(self.t0)})
        if self.checked and st.state not in (lt.torrent_status.checking_files,
                                             lt.torrent_status.checking_resume_data):
            self.fail('ERR_LT_STATE', f'data incomplete after the check: {st.progress_ppm / 10000:.2f}% '
                      f'of {self.rec.name} in {st.save_path}')


class DownloadWait(Pending):
    def __init__(self, net, cid, sess, rec, timeout_ms):
        super().__init__(net, cid, sess, timeout_ms)
        self.rec = rec
        self.hash_failures = 0

    def on_alert(self, sess, a):
        if sess is not self.session or a.get('handle_hash') != hash(self.rec.handle):
            return
        kind = a['type']
        if kind in ('torrent_error', 'file_error'):
            return self.fail('ERR_LT_LIBTORRENT', a['message'])
        if kind == 'hash_failed':
            self.hash_failures += 1
        if kind in ('state_changed', 'torrent_finished', 'metadata', 'hash_failed'):
            self.check()

    def on_tick(self):
        self.check()

    def check(self):
        st = self.rec.handle.status()
        if st.has_metadata and st.is_seeding:
            r = self.rec
            ti = self.rec.handle.torrent_file()
            v1, v2 = info_hashes_hex(ti.info_hashes())
            self.reply({'infohash': r.key, 'v1': v1, 'v2': v2, 'name': ti.name(),
                        'num_pieces': ti.num_pieces(), 'pieces_valid': sum(1 for x in st.pieces if x),
                        'hash_failures': self.hash_failures, 'bytes': st.total_wanted_done,
                        'ms': ms_since(self.t0)})


class MetadataWait(Pending):
    def __init__(self, net, cid, sess, rec, timeout_ms):
        super().__init__(net, cid, sess, timeout_ms)
        self.rec = rec

    def on_alert(self, sess, a):
        if sess is self.session and a['type'] == 'metadata' and a['handle_hash'] == hash(self.rec.handle):
            self.reply(dict(a['fields'], infohash=self.rec.key))
        elif sess is self.session and a['type'] == 'torrent_error' and a.get('handle_hash') == hash(self.rec.handle):
            self.fail('ERR_LT_LIBTORRENT', a['message'])


class FetchBatch(Pending):
    def __init__(self, net, cid, sess, items, timeout_ms):
        super().__init__(net, cid, sess, timeout_ms)
        self.waiting = {}                  # key -> TorrentRec or None until added
        self.failed = []
        self.latencies = []
        self.t_first = None
        self.t_last = None
        self.count = len(items)
        self.items = items

    def start(self):
        s = self.session
        self.t_first = now()
        for key, ihb, peers in self.items:
            p = lt.add_torrent_params()
            p.info_hashes = ih_to_info_hash_t(ihb)
            p.save_path = self.net.tmpdir
            p.peers = peers
            p.flags = (p.flags | lt.torrent_flags.upload_mode | lt.torrent_flags.duplicate_is_error) \
                & ~lt.torrent_flags.auto_managed & ~lt.torrent_flags.paused
            self.waiting[key] = None
            s.ses.async_add_torrent(p)

    def on_alert(self, sess, a):
        if sess is not self.session:
            return
        kind = a['type']
        if kind == 'add_torrent':
            key = a['key']
            if key not in self.waiting or self.waiting[key] is not None:
                return
            if a['error']:
                del self.waiting[key]
                self.failed.append(key)
            else:
                rec = TorrentRec(sess, a['handle'], key, 'fetch')
                rec.v1, rec.v2 = a['v1'], a['v2']
                rec.emit_metadata = False
                rec.added = self.t_first
                self.waiting[key] = rec
                sess.index_torrent(rec)
        elif kind == 'metadata':
            rec = sess.by_handle.get(a['handle_hash'])
            if rec is None or rec.kind != 'fetch' or self.waiting.get(rec.key) is not rec:
                return
            t = a['t']
            self.t_last = t
            self.latencies.append((t - self.t_first) * 1000)
            del self.waiting[rec.key]
            sess.drop_torrent(rec)
            sess.ses.remove_torrent(rec.handle)
        self.maybe_done()

    def maybe_done(self):
        if not self.waiting and not self.done:
            self.finish(False)

    def finish(self, timed_out):
        for key, rec in self.waiting.items():
            self.failed.append(key)
            if rec is not None:
                self.session.drop_torrent(rec)
                self.session.ses.remove_torrent(rec.handle)
        self.waiting = {}
        fetched = len(self.latencies)
        wall = ((self.t_last or now()) - self.t_first) * 1000
        lat = sorted(self.latencies)
        self.reply({'count': self.count, 'fetched': fetched, 'failed': self.failed, 'timed_out': timed_out,
                    'wall_ms': round(wall, 3),
                    'fetches_per_s': round(fetched / (wall / 1000), 2) if wall > 0 and fetched else 0,
                    'latency_ms': {'p50': pct(lat, 50), 'p95': pct(lat, 95), 'max': lat[-1] if lat else None}})

    def on_timeout(self):
        self.finish(True)


class SampleWait(Pending):
    def __init__(self, net, cid, sess, ep, timeout_ms):
        super().__init__(net, cid, sess, timeout_ms)
        self.ep = ep

    def on_alert(self, sess, a):
        if sess is self.session and a['type'] == 'sample' and tuple(a['endpoint']) == self.ep:
            r = dict(a)
            del r['type']
            del r['endpoint']
            r.update({'host': self.ep[0], 'port': self.ep[1], 'ms': ms_since(self.t0)})
            self.reply(r)


class GetPeersWait(Pending):
    def __init__(self, net, cid, sess, ih, min_peers, timeout_ms):
        super().__init__(net, cid, sess, timeout_ms)
        self.ih = ih
        self.min_peers = min_peers
        self.peers = []
        self.seen = set()

    def on_alert(self, sess, a):
        if sess is self.session and a['type'] == 'get_peers_reply' and a['info_hash'] == self.ih:
            for p in a['peers']:
                if p not in self.seen:
                    self.seen.add(p)
                    self.peers.append([p[0], p[1]])
            if len(self.peers) >= self.min_peers:
                self.reply({'peers': self.peers, 'timed_out': False, 'ms': ms_since(self.t0)})

    def on_timeout(self):
        self.reply({'peers': self.peers, 'timed_out': True, 'ms': ms_since(self.t0)})


class GetMutableWait(Pending):
    def __init__(self, net, cid, sess, key, salt, raw, raw_nodes, timeout_ms):
        super().__init__(net, cid, sess, timeout_ms)
        self.key = key
        self.salt = salt
        self.raw = raw
        self.raw_nodes = raw_nodes
        self.best = None
        self.raw_tids = []
        self.raw_left = 0

    def on_alert(self, sess, a):
        if sess is not self.session or a['type'] != 'mutable_item' or a['key'] != self.key:
            return
        if a['salt'] is not None and a['salt'] != self.salt:
            return
        if self.raw_tids:
            return                          # already reading the raw value
        if a['seq'] > 0 and (self.best is None or a['seq'] >= self.best['seq']):
            self.best = a
        if not a['authoritative']:
            return
        if self.best is None:
            return self.reply({'found': False, 'seq': None, 'signature': None, 'value_hex': None,
                               'value_text': None, 'authoritative': True, 'verified': False,
                               'raw_from': None, 'ms': ms_since(self.t0)})
        if self.best['value_hex'] is not None and not self.raw:
            return self.reply(self.result(self.best['value_hex'], None))
        self.start_raw()

    def result(self, value_hex, raw_from):
        b = self.best
        return {'found': True, 'seq': b['seq'], 'signature': b['signature'], 'value_hex': value_hex,
                'value_text': b['value_text'], 'authoritative': True, 'verified': True,
                'raw_from': raw_from, 'ms': ms_since(self.t0)}

    def start_raw(self):
        target = hashlib.sha1(bytes.fromhex(self.key) + self.salt).digest()   # BEP 44
        nodes = [(s.host, s.dht_port or s.port) for s in self.net.sessions] + self.raw_nodes
        want_seq = self.best['seq']
        want_sig = self.best['signature']
        self.raw_left = len(nodes)

        def on_reply(ep, pkt, msg):
            self.raw_left -= 1
            if self.done:
                return
            try:
                spans = dict_spans(pkt, 0)
                if b'r' not in spans:
                    raise ValueError('no r')
                rs = dict_spans(pkt, spans[b'r'][0])
                r = msg[b'r']
                if b'v' in rs and r.get(b'seq') == want_seq and r.get(b'sig', b'').hex() == want_sig:
                    v = pkt[rs[b'v'][0]:rs[b'v'][1]]
                    return self.reply(self.result(bytes(v).hex(), [ep[0], ep[1]]))
            except (ValueError, KeyError, AttributeError):
                pass
            if self.raw_left <= 0:
                self.reply(self.result(self.best['value_hex'], None))

        for ep in nodes:
            self.raw_tids.append(self.net.raw().query(ep, 'get', {'target': target}, on_reply))

    def on_timeout(self):
        if self.best is not None:
            self.reply(dict(self.result(self.best['value_hex'], None), authoritative=self.best['authoritative']))
        else:
            super().on_timeout()
        for t in self.raw_tids:
            self.net.raw().forget(t)


class ImmutableGetWait(Pending):
    def __init__(self, net, cid, sess, target, timeout_ms):
        super().__init__(net, cid, sess, timeout_ms)
        self.target = target

    def on_alert(self, sess, a):
        if sess is self.session and a['type'] == 'immutable_item' and a['target'] == self.target:
            found = a['value_hex'] is not None or (a['value_text'] is not None and '<uninitialized>' not in a['value_text'])
            self.reply({'found': found, 'value_hex': a['value_hex'], 'value_text': a['value_text'] if found else None,
                        'ms': ms_since(self.t0)})

    def on_timeout(self):
        self.reply({'found': False, 'value_hex': None, 'value_text': None, 'ms': ms_since(self.t0)})


class PutWait(Pending):
    def __init__(self, net, cid, sess, match, timeout_ms):
        super().__init__(net, cid, sess, timeout_ms)
        self.match = match
        self.target = None

    def on_alert(self, sess, a):
        if sess is self.session and a['type'] == 'put' and self.match(a):
            self.reply({'target': self.target or a['target'], 'seq': a['seq'], 'signature': a['signature'],
                        'num_success': a['num_success'], 'ms': ms_since(self.t0)})


class NodesWait(Pending):
    def on_alert(self, sess, a):
        if sess is self.session and a['type'] == 'live_nodes':
            self.reply({'node_id': a['node_id'], 'nodes': a['nodes']})


class StatsWait(Pending):
    def __init__(self, net, cid, sess, names, timeout_ms):
        super().__init__(net, cid, sess, timeout_ms)
        self.names = names

    def on_alert(self, sess, a):
        if sess is not self.session or a['type'] != 'session_stats':
            return
        v = a['values']
        g = lambda k: v.get(k, 0)  # noqa: E731
        torrents = []
        for rec in list(sess.by_handle.values()):
            if rec.kind == 'fetch':
                continue
            try:
                st = rec.handle.status()
            except RuntimeError:
                continue
            torrents.append({
                'infohash': rec.key, 'v1': rec.v1, 'v2': rec.v2, 'name': rec.name or st.name, 'kind': rec.kind,
                'state': str(st.state), 'has_metadata': st.has_metadata,
                'incoming_peers': rec.incoming_peers, 'outgoing_peers': rec.outgoing_peers,
                'disconnects': rec.disconnects, 'metadata_requests_in': rec.metadata_requests_in,
                'metadata_pieces_out': rec.metadata_pieces_out, 'num_peers': st.num_peers,
                'total_upload': st.total_upload, 'total_payload_upload': st.total_payload_upload})
        sess.dht_nodes = g('dht.dht_nodes')
        self.reply({
            'node_id': sess.node_id,
            'dht_nodes': g('dht.dht_nodes'), 'dht_node_cache': g('dht.dht_node_cache'),
            'dht_torrents': g('dht.dht_torrents'), 'dht_peers': g('dht.dht_peers'),
            'dht_immutable_data': g('dht.dht_immutable_data'), 'dht_mutable_data': g('dht.dht_mutable_data'),
            'dht_in': {'messages': g('dht.dht_messages_in'), 'dropped': g('dht.dht_messages_in_dropped'),
                       'ping': g('dht.dht_ping_in'), 'find_node': g('dht.dht_find_node_in'),
                       'get_peers': g('dht.dht_get_peers_in'), 'announce_peer': g('dht.dht_announce_peer_in'),
                       'get': g('dht.dht_get_in'), 'put': g('dht.dht_put_in'),
                       'sample_infohashes': g('dht.dht_sample_infohashes_in')},
            'incoming_connections': g('peer.incoming_connections'),
            'num_incoming_metadata': g('ses.num_incoming_metadata'),
            'num_outgoing_metadata': g('ses.num_outgoing_metadata'),
            'num_peers_connected': g('peer.num_peers_connected'),
            'alerts_dropped': sess.alerts_dropped,
            'counters': {k: v[k] for k in self.names if k in v},
            'torrents': torrents,
        })


# ---------------------------------------------------------------- the controller

class LtNet:
    def __init__(self):
        self.sessions = []
        self.pending = []
        self.running = True
        self.tmpdir = tempfile.mkdtemp(prefix='ltnet-')
        self.alert_r, self.alert_w = os.pipe()
        os.set_blocking(self.alert_r, False)
        os.set_blocking(self.alert_w, False)
        self._raw = None
        self.inbuf = b''
        self._shut = False

    # -- output
    def send(self, obj):
        try:
            sys.stdout.write(json.dumps(obj, separators=(',', ':')) + '\n')
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            self.running = False

    def reply(self, cid, result):
        self.send({'id': cid, 'ok': True, 'result': result})

    def error(self, cid, code, message, details=None):
        err = {'code': code, 'message': message}
        if details is not None:
            err['details'] = details
        self.send({'id': cid, 'ok': False, 'error': err})

    def emit(self, name, fields):
        self.send(dict(fields, event=name))

    def raw(self):
        if self._raw is None:
            host = self.sessions[0].host if self.sessions else '127.0.0.1'
            self._raw = RawKrpc(host)
        return self._raw

    # -- helpers
    def session(self, cmd, key='session'):
        i = cmd.get(key)
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(self.sessions):
            raise usage(f'{key} must be a session index 0..{len(self.sessions) - 1}')
        return self.sessions[i]

    def sessions_arg(self, cmd):
        if cmd.get('session') == 'all':
            return list(self.sessions)
        return [self.session(cmd)]

    @staticmethod
    def timeout(cmd, default):
        t = cmd.get('timeout_ms', default)
        if not isinstance(t, (int, float)) or isinstance(t, bool) or not 0 < t <= 600000:
            raise usage('timeout_ms must be a number in (0, 600000]')
        return t

    # -- alerts: copy what we need at once; an alert object is dead after the next pop_alerts()
    def pump_alerts(self):
        try:
            while os.read(self.alert_r, 4096):
                pass
        except BlockingIOError:
            pass
        for sess in self.sessions:
            batch = sess.ses.pop_alerts()
            if not batch:
                continue
            t = now()
            events = []
            for al in batch:
                try:
                    ev = self.convert(sess, al, t)
                except Exception as exc:  # noqa: BLE001 - one odd alert must not kill the loop
                    log(f'session {sess.index}: cannot read {type(al).__name__}: {exc!r}')
                    ev = None
                if ev is not None:
                    events.append(ev)
            del batch
            for ev in events:
                self.dispatch(sess, ev)

    def convert(self, sess, a, t):
        if isinstance(a, lt.peer_log_alert):
            if not sess.peer_log:
                return None
            m = a.message()
            if 'UT_METADATA' not in m:
                return None
            return {'type': 'peer_log', 'handle_hash': hash(a.handle), 'message': m}
        if isinstance(a, lt.dht_announce_alert):
            return {'type': 'dht_announce', 'ip': str(a.ip), 'port': a.port, 'info_hash': hexb(a.info_hash)}
        if isinstance(a, lt.dht_get_peers_alert):
            return {'type': 'dht_get_peers', 'info_hash': hexb(a.info_hash)}
        if isinstance(a, lt.dht_get_peers_reply_alert):
            return {'type': 'get_peers_reply', 'info_hash': hexb(a.info_hash),
                    'peers': [(str(p[0]), int(p[1])) for p in a.peers()]}
        if isinstance(a, lt.dht_sample_infohashes_alert):
            iv = a.interval
            return {'type': 'sample', 'endpoint': (str(a.endpoint[0]), int(a.endpoint[1])),
                    'num_infohashes': a.num_infohashes, 'num_samples': a.num_samples,
                    'samples': [hexb(h) for h in a.samples],
                    'interval': iv.total_seconds() if hasattr(iv, 'total_seconds') else iv,
                    'nodes': [[hexb(n['nid']), str(n['endpoint'][0]), int(n['endpoint'][1])] for n in a.nodes]}
        if isinstance(a, lt.dht_mutable_item_alert):
            return {'type': 'mutable_item', 'value_hex': item_value_hex(a), 'key': bytes(a.key).hex(), 'salt': alert_salt(a), 'seq': a.seq,
                    'signature': bytes(a.signature).hex(), 'authoritative': a.authoritative,
                    'value_text': self.item_text(a)}
        if isinstance(a, lt.dht_immutable_item_alert):
            return {'type': 'immutable_item', 'target': hexb(a.target), 'value_hex': item_value_hex(a),
                    'value_text': self.item_text(a)}
        if isinstance(a, lt.dht_put_alert):
            return {'type': 'put', 'target': hexb(a.target), 'public_key': bytes(a.public_key).hex(),
                    'salt': alert_salt(a), 'seq': a.seq, 'signature': bytes(a.signature).hex(),
                    'num_success': a.num_success}
        if isinstance(a, lt.dht_live_nodes_alert):
            return {'type': 'live_nodes', 'node_id': hexb(a.node_id),
                    'nodes': [[hexb(n['nid']), str(n['endpoint'][0]), int(n['endpoint'][1])] for n in a.nodes]}
        if isinstance(a, lt.dht_stats_alert):
            return {'type': 'dht_stats', 'nodes': sum(b['num_nodes'] for b in a.routing_table)}
        if isinstance(a, lt.session_stats_alert):
            return {'type': 'session_stats', 'values': dict(a.values)}
        if isinstance(a, lt.listen_succeeded_alert):
            return {'type': 'listen_ok', 'address': str(a.address), 'port': a.port,
                    'tcp': a.socket_type == lt.socket_type_t.tcp}
        if isinstance(a, lt.listen_failed_alert):
            return {'type': 'listen_failed', 'message': a.message()}
        if isinstance(a, lt.add_torrent_alert):
            err = a.error.value() != 0
            v1, v2 = info_hashes_hex(a.params.info_hashes)
            return {'type': 'add_torrent', 'error': a.message() if err else None, 'handle': a.handle,
                    'v1': v1, 'v2': v2, 'key': v1 or v2}
        if isinstance(a, lt.metadata_received_alert):
            h = a.handle
            rec = sess.by_handle.get(hash(h))
            fields = None
            if rec is not None and rec.emit_metadata:
                ti = h.torrent_file()
                fields = metadata_fields(ti, rec.include_info)
            return {'type': 'metadata', 'handle_hash': hash(h), 't': t, 'fields': fields}
        if isinstance(a, lt.metadata_failed_alert):
            return {'type': 'metadata_failed', 'handle_hash': hash(a.handle), 'message': a.message()}
        if isinstance(a, (lt.torrent_error_alert, lt.file_error_alert)):
            return {'type': 'torrent_error' if isinstance(a, lt.torrent_error_alert) else 'file_error',
                    'handle_hash': hash(a.handle), 'message': a.message()}
        if isinstance(a, lt.torrent_checked_alert):
            return {'type': 'torrent_checked', 'handle_hash': hash(a.handle)}
        if isinstance(a, lt.state_changed_alert):
            return {'type': 'state_changed', 'handle_hash': hash(a.handle), 'state': str(a.state)}
        if isinstance(a, lt.torrent_finished_alert):
            return {'type': 'torrent_finished', 'handle_hash': hash(a.handle)}
        if isinstance(a, lt.hash_failed_alert):
            return {'type': 'hash_failed', 'handle_hash': hash(a.handle), 'piece': int(a.piece_index)}
        if isinstance(a, lt.peer_connect_alert):
            m = a.message()
            return {'type': 'peer_connect', 'handle_hash': hash(a.handle), 'incoming': 'incoming connection' in m,
                    'ip': str(a.endpoint[0]), 'port': int(a.endpoint[1])}
        if isinstance(a, lt.peer_disconnected_alert):
            return {'type': 'peer_disconnect', 'handle_hash': hash(a.handle),
                    'ip': str(a.endpoint[0]), 'port': int(a.endpoint[1]), 'reason': a.message()}
        if isinstance(a, lt.incoming_connection_alert):
            return {'type': 'incoming_connection', 'ip': str(a.endpoint[0]), 'port': int(a.endpoint[1])}
        if isinstance(a, lt.alerts_dropped_alert):
            return {'type': 'alerts_dropped', 'message': a.message()}
        if DEBUG:
            return {'type': 'log', 'message': f'{type(a).__name__}: {a.message()}'}
        return None

    @staticmethod
    def item_text(a):
        try:
            msg = a.message()
        except UnicodeDecodeError:             # a binary salt is in the message
            return None
        i = msg.find('[ ')
        return msg[i + 2:-2] if i >= 0 and msg.endswith(' ]') else msg

    def dispatch(self, sess, ev):
        kind = ev['type']
        if kind == 'listen_ok':
            if ev['tcp']:
                sess.tcp_port = ev['port']
            else:
                sess.dht_port = ev['port']
        elif kind == 'listen_failed':
            sess.listen_error = ev['message']
            log(f'session {sess.index}: {ev["message"]}')
        elif kind == 'dht_stats':
            sess.dht_nodes = ev['nodes']
        elif kind == 'alerts_dropped':
            sess.alerts_dropped += 1
            log(f'session {sess.index}: {ev["message"]}')
        elif kind == 'log':
            log(f'session {sess.index}: {ev["message"]}')
        elif kind == 'metadata':
            rec = sess.by_handle.get(ev['handle_hash'])
            if rec is not None and rec.emit_metadata:
                rec.has_metadata = True
                f = dict(ev['fields'], ms=round((ev['t'] - rec.added) * 1000, 3))
                ev['fields'] = f
                if rec.v1 is None and f['v1']:
                    rec.v1 = f['v1']
                if rec.v2 is None and f['v2']:
                    rec.v2 = f['v2']
                rec.name = f['name']
                sess.index_torrent(rec)
                self.emit('metadata', dict(f, session=sess.index, infohash=rec.key))
                if rec.remove_on_metadata:
                    sess.drop_torrent(rec)
                    sess.ses.remove_torrent(rec.handle)
        elif kind in ('torrent_error', 'file_error', 'metadata_failed'):
            rec = sess.by_handle.get(ev['handle_hash'])
            self.emit('torrent_error', {'session': sess.index, 'infohash': rec.key if rec else None,
                                        'kind': kind, 'message': ev['message']})
        elif kind == 'peer_connect':
            rec = sess.by_handle.get(ev['handle_hash'])
            if rec is not None:
                if ev['incoming']:
                    rec.incoming_peers += 1
                else:
                    rec.outgoing_peers += 1
            if 'peer_connect' in sess.events:
                self.emit('peer_connect', {'session': sess.index, 'infohash': rec.key if rec else None,
                                           'incoming': ev['incoming'], 'ip': ev['ip'], 'port': ev['port']})
        elif kind == 'peer_disconnect':
            rec = sess.by_handle.get(ev['handle_hash'])
            if rec is not None:
                rec.disconnects += 1
            if 'peer_disconnect' in sess.events:
                self.emit('peer_disconnect', {'session': sess.index, 'infohash': rec.key if rec else None,
                                              'ip': ev['ip'], 'port': ev['port'], 'reason': ev['reason']})
        elif kind == 'incoming_connection':
            sess.incoming_connections += 1
            if 'incoming_connection' in sess.events:
                self.emit('incoming_connection', {'session': sess.index, 'ip': ev['ip'], 'port': ev['port']})
        elif kind == 'peer_log':
            rec = sess.by_handle.get(ev['handle_hash'])
            if rec is not None:
                m = ev['message']
                if '<== UT_METADATA [ type: 0' in m:
                    rec.metadata_requests_in += 1
                elif '==> UT_METADATA [ type: 1' in m:
                    rec.metadata_pieces_out += 1
        elif kind == 'dht_announce' and 'dht_announce' in sess.events:
            self.emit('dht_announce', {'session': sess.index, 'ip': ev['ip'], 'port': ev['port'],
                                       'infohash': ev['info_hash']})
        elif kind == 'dht_get_peers' and 'dht_get_peers' in sess.events:
            self.emit('dht_get_peers', {'session': sess.index, 'infohash': ev['info_hash']})
        for p in list(self.pending):
            if not p.done:
                p.on_alert(sess, ev)

    # -- commands
    def handle_line(self, line):
        try:
            cmd = json.loads(line)
        except ValueError as exc:
            log(f'bad JSON line ignored: {exc}')
            return
        if not isinstance(cmd, dict):
            log('a command must be a JSON object')
            return
        cid = cmd.get('id')
        name = cmd.get('cmd')
        fn = getattr(self, 'cmd_' + name, None) if isinstance(name, str) else None
        if fn is None:
            return self.error(cid, 'ERR_LT_USAGE', f'unknown command {name!r}')
        t0 = now()
        try:
            res = fn(cid, cmd)
            if res is not None:
                self.reply(cid, res)
        except CommandError as exc:
            self.error(cid, exc.code, str(exc), exc.details)
        except RuntimeError as exc:            # what the binding raises for libtorrent errors
            self.error(cid, 'ERR_LT_LIBTORRENT', str(exc))
        except (TypeError, ValueError, KeyError) as exc:
            self.error(cid, 'ERR_LT_USAGE', f'{type(exc).__name__}: {exc}')
        if DEBUG:
            log(f'{name} handled in {ms_since(t0)} ms')

    def add_pending(self, p):
        self.pending.append(p)
        p.on_tick()
        return None

    def cmd_ping(self, cid, cmd):
        return {'sessions': len(self.sessions)}

    def cmd_start(self, cid, cmd):
        t0 = now()
        n = cmd.get('sessions')
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 1000:
            raise usage('sessions must be an integer 1..1000')
        profile = cmd.get('profile', 'harness')
        if profile not in PROFILES:
            raise usage(f'profile must be one of {", ".join(PROFILES)}')
        overrides = cmd.get('settings') or {}
        if not isinstance(overrides, dict):
            raise usage('settings must be an object')
        link = cmd.get('link', 'mesh')
        if link not in ('mesh', 'star', 'none'):
            raise usage('link must be mesh, star or none')
        boot = peers_arg(cmd.get('dht_bootstrap'), 'dht_bootstrap')
        bind_host = cmd.get('bind_host')
        if bind_host is not None:
            endpoint(bind_host, 1, 'bind_host')
        events = set(cmd.get('events') or [])
        if not events <= EXTRA_EVENTS:
            raise usage(f'events: unknown {sorted(events - EXTRA_EVENTS)}')
        peer_log = bool(cmd.get('peer_log', False))
        timeout_ms = self.timeout(cmd, 10000)
        known = set(lt.default_settings().keys())
        unknown = [k for k in overrides if k not in known]
        if unknown:
            raise usage(f'unknown libtorrent settings: {unknown}')

        mask = BASE_ALERT_MASK | (A.peer_log_notification if peer_log else 0)
        first = len(self.sessions)
        new = []
        for k in range(n):
            i = first + k
            host = bind_host or loopback_host(i)
            pack = dict(ISOLATION)
            pack.update(PROFILES[profile])
            pack.update({'listen_interfaces': f'{host}:0', 'outgoing_interfaces': host,
                         'alert_mask': int(mask)})
            pack.update(overrides)
            for fixed in ('dht_bootstrap_nodes', 'enable_lsd', 'enable_upnp', 'enable_natpmp'):
                pack[fixed] = ISOLATION[fixed]   # isolation is not negotiable
            ses = lt.session(pack)
            ses.set_alert_fd(self.alert_w)
            s = Session(i, ses, host, events, peer_log)
            self.sessions.append(s)
            new.append(s)
        for s in new:
            s.read_node_id()
        # contacts
        contacts = 0
        for s in new:
            peers = []
            if link == 'mesh':
                peers = [o for o in self.sessions if o is not s]
            elif link == 'star':
                peers = [self.sessions[0]] if s is not self.sessions[0] else []
            for o in peers:
                s.ses.add_dht_node((o.host, o.port))
            if link == 'star' and s is not self.sessions[0]:
                self.sessions[0].ses.add_dht_node((s.host, s.port))
            for ep in boot:
                s.ses.add_dht_node(ep)
            contacts = max(contacts, len(peers) + len(boot))
        min_nodes = cmd.get('min_nodes', min(4, contacts) if link == 'mesh' else min(1, contacts))
        if not isinstance(min_nodes, int) or min_nodes < 0:
            raise usage('min_nodes must be an integer >= 0')
        return self.add_pending(StartWait(self, cid, new, min_nodes, timeout_ms, t0))

    def cmd_add_dht_node(self, cid, cmd):
        ep = endpoint(cmd.get('host'), cmd.get('port'))
        for s in self.sessions_arg(cmd):
            s.ses.add_dht_node(ep)
        return {}

    def cmd_settings(self, cid, cmd):
        pack = cmd.get('settings')
        if not isinstance(pack, dict):
            raise usage('settings must be an object')
        for fixed in ('dht_bootstrap_nodes', 'listen_interfaces', 'outgoing_interfaces'):
            if fixed in pack:
                raise usage(f'{fixed} cannot change after start')
        for s in self.sessions_arg(cmd):
            s.ses.apply_settings(pack)
        return {}

    def cmd_create_torrent(self, cid, cmd):
        t0 = now()
        path = cmd.get('path')
        if not isinstance(path, str) or not os.path.exists(path):
            raise usage('path must name an existing file or directory')
        path = os.path.abspath(path)
        piece_length = cmd.get('piece_length', 16384)
        if not isinstance(piece_length, int) or piece_length < 16384 or piece_length & (piece_length - 1):
            raise usage('piece_length must be a power of two >= 16384')
        mode = cmd.get('mode', 'hybrid')
        flags = {'v1': lt.create_torrent.v1_only, 'v2': lt.create_torrent.v2_only, 'hybrid': 0}.get(mode)
        if flags is None:
            raise usage('mode must be v1, v2 or hybrid')
        fs = lt.file_storage()
        lt.add_files(fs, path)
        if fs.num_files() == 0:
            raise usage('no files under path')
        ct = lt.create_torrent(fs, piece_length, flags)
        if cmd.get('comment'):
            ct.set_comment(str(cmd['comment']))
        ct.set_creator(str(cmd.get('creator', 'bbmesh ltnet')))
        if cmd.get('private'):
            ct.set_priv(True)
        lt.set_piece_hashes(ct, os.path.dirname(path))
        data = lt.bencode(ct.generate())
        ti = lt.torrent_info(data)
        f = metadata_fields(ti)
        return {'torrent_b64': base64.b64encode(data).decode(), 'infohash': f['v1'] or f['v2'],
                'v1': f['v1'], 'v2': f['v2'], 'name': f['name'], 'total_size': f['total_size'],
                'num_pieces': f['num_pieces'], 'files': f['files'], 'ms': ms_since(t0)}

    def cmd_seed(self, cid, cmd):
        s = self.session(cmd)
        try:
            data = base64.b64decode(cmd.get('torrent_b64') or '', validate=True)
            ti = lt.torrent_info(data)
        except (ValueError, RuntimeError) as exc:
            raise usage(f'torrent_b64 is not a .torrent: {exc}') from None
        save_path = cmd.get('save_path')
        if not isinstance(save_path, str) or not os.path.isdir(save_path):
            raise usage('save_path must be an existing directory (the parent of the data)')
        timeout_ms = self.timeout(cmd, 30000)
        p = lt.add_torrent_params()
        p.ti = ti
        p.save_path = save_path
        flags = (p.flags | lt.torrent_flags.duplicate_is_error) & ~lt.torrent_flags.auto_managed & ~lt.torrent_flags.paused
        if cmd.get('skip_check'):
            flags |= lt.torrent_flags.seed_mode
        p.flags = flags
        h = s.ses.add_torrent(p)
        v1, v2 = info_hashes_hex(ti.info_hashes())
        rec = TorrentRec(s, h, v1 or v2, 'seed')
        rec.v1, rec.v2, rec.name, rec.has_metadata = v1, v2, ti.name(), True
        s.index_torrent(rec)
        return self.add_pending(SeedWait(self, cid, s, rec, timeout_ms))

    def magnet_params(self, ihb, peers, name=None):
        p = lt.add_torrent_params()
        p.info_hashes = ih_to_info_hash_t(ihb)
        p.save_path = self.tmpdir
        if peers:
            p.peers = peers
        if name:
            p.name = name
        return p

    def cmd_add_magnet(self, cid, cmd):
        s = self.session(cmd)
        ihb = unhex(cmd.get('infohash'), (20, 32), 'infohash')
        peers = peers_arg(cmd.get('peers'))
        timeout_ms = self.timeout(cmd, 30000)
        p = self.magnet_params(ihb, peers, cmd.get('name'))
        flags = (p.flags | lt.torrent_flags.duplicate_is_error) & ~lt.torrent_flags.auto_managed & ~lt.torrent_flags.paused
        if cmd.get('upload_mode', True):
            flags |= lt.torrent_flags.upload_mode
        p.flags = flags
        h = s.ses.add_torrent(p)
        rec = TorrentRec(s, h, ihb.hex(), 'magnet')
        if len(ihb) == 20:
            rec.v1 = ihb.hex()
        else:
            rec.v2 = ihb.hex()
        rec.remove_on_metadata = bool(cmd.get('remove_on_metadata', False))
        rec.include_info = bool(cmd.get('include_info', False))
        s.index_torrent(rec)
        if cmd.get('wait_metadata'):
            return self.add_pending(MetadataWait(self, cid, s, rec, timeout_ms))
        return {'infohash': rec.key}

    def cmd_download(self, cid, cmd):
        s = self.session(cmd)
        save_path = cmd.get('save_path')
        if not isinstance(save_path, str) or not os.path.isdir(save_path):
            raise usage('save_path must be an existing directory')
        peers = peers_arg(cmd.get('peers'))
        if not peers:
            raise usage('peers must name at least one peer')
        timeout_ms = self.timeout(cmd, 60000)
        if cmd.get('torrent_b64') is not None:
            try:
                ti = lt.torrent_info(base64.b64decode(cmd['torrent_b64'], validate=True))
            except (ValueError, RuntimeError) as exc:
                raise usage(f'torrent_b64 is not a .torrent: {exc}') from None
            p = lt.add_torrent_params()
            p.ti = ti
            p.peers = peers
            v1, v2 = info_hashes_hex(ti.info_hashes())
            key = v1 or v2
        else:
            ihb = unhex(cmd.get('infohash'), (20, 32), 'infohash')
            p = self.magnet_params(ihb, peers)
            v1, v2 = (ihb.hex(), None) if len(ihb) == 20 else (None, ihb.hex())
            key = ihb.hex()
        p.save_path = save_path
        p.flags = (p.flags | lt.torrent_flags.duplicate_is_error) & ~lt.torrent_flags.auto_managed \
            & ~lt.torrent_flags.paused & ~lt.torrent_flags.upload_mode
        h = s.ses.add_torrent(p)
        rec = TorrentRec(s, h, key, 'magnet')
        rec.v1, rec.v2 = v1, v2
        s.index_torrent(rec)
        return self.add_pending(DownloadWait(self, cid, s, rec, timeout_ms))

    def cmd_remove_torrent(self, cid, cmd):
        s = self.session(cmd)
        rec = s.find(cmd.get('infohash'))
        s.drop_torrent(rec)
        s.ses.remove_torrent(rec.handle)
        return {}

    def cmd_fetch_metadata(self, cid, cmd):
        s = self.session(cmd)
        items = cmd.get('items')
        if not isinstance(items, list) or not items:
            raise usage('items must be a non-empty list of {infohash, peers}')
        parsed, seen = [], set()
        for it in items:
            if not isinstance(it, dict):
                raise usage('items must be objects')
            ihb = unhex(it.get('infohash'), (20, 32), 'infohash')
            if ihb.hex() in seen or ihb.hex() in s.by_ih:
                raise usage(f'duplicate infohash {ihb.hex()}')
            seen.add(ihb.hex())
            parsed.append((ihb.hex(), ihb, peers_arg(it.get('peers'))))
        fb = FetchBatch(self, cid, s, parsed, self.timeout(cmd, 60000))
        self.pending.append(fb)
        fb.start()
        return None

    def cmd_sample_infohashes(self, cid, cmd):
        s = self.session(cmd)
        ep = endpoint(cmd.get('host'), cmd.get('port'))
        target = unhex(cmd['target'], (20,), 'target') if cmd.get('target') else os.urandom(20)
        timeout_ms = self.timeout(cmd, 5000)
        s.ses.dht_sample_infohashes(ep, lt.sha1_hash(target))
        return self.add_pending(SampleWait(self, cid, s, ep, timeout_ms))

    def cmd_dht_get_peers(self, cid, cmd):
        s = self.session(cmd)
        ihb = unhex(cmd.get('infohash'), (20, 32), 'infohash')[:20]
        min_peers = cmd.get('min_peers', 1)
        if not isinstance(min_peers, int) or min_peers < 1:
            raise usage('min_peers must be an integer >= 1')
        p = GetPeersWait(self, cid, s, ihb.hex(), min_peers, self.timeout(cmd, 5000))
        self.pending.append(p)
        s.ses.dht_get_peers(lt.sha1_hash(ihb))
        return None

    def salt_arg(self, cmd):
        if cmd.get('salt_hex') is not None:
            b = bytes.fromhex(cmd['salt_hex'])
        else:
            salt = cmd.get('salt', '')
            if not isinstance(salt, str):
                raise usage('salt must be a string (utf-8) or use salt_hex')
            b = salt.encode('utf-8')
        if len(b) > 64:
            raise usage('salt is at most 64 bytes (BEP 44)')
        return b

    def cmd_dht_get_mutable(self, cid, cmd):
        s = self.session(cmd)
        key = unhex(cmd.get('public_key'), (32,), 'public_key')
        salt = self.salt_arg(cmd)
        raw_nodes = peers_arg(cmd.get('raw_nodes'), 'raw_nodes')
        p = GetMutableWait(self, cid, s, key.hex(), salt, bool(cmd.get('raw')), raw_nodes, self.timeout(cmd, 5000))
        self.pending.append(p)
        s.ses.dht_get_mutable_item(key, salt)
        return None

    def cmd_dht_put_mutable(self, cid, cmd):
        s = self.session(cmd)
        seed = unhex(cmd.get('seed'), (32,), 'seed')
        key = unhex(cmd.get('public_key'), (32,), 'public_key')
        salt = self.salt_arg(cmd)
        if cmd.get('value_hex') is not None:
            value = bytes.fromhex(cmd['value_hex'])
        elif isinstance(cmd.get('value'), str):
            value = cmd['value'].encode('utf-8')
        else:
            raise usage('value (string) or value_hex is required')
        h = bytearray(hashlib.sha512(seed).digest())   # libtorrent's ed25519 secret key format
        h[0] &= 248
        h[31] &= 63
        h[31] |= 64
        kh = key.hex()
        target = hashlib.sha1(key + salt).hexdigest()   # BEP 44; the alert leaves it zero
        p = PutWait(self, cid, s, lambda a: a['public_key'] == kh and a['salt'] in (salt, None), self.timeout(cmd, 5000))
        p.target = target
        self.pending.append(p)
        s.ses.dht_put_mutable_item(bytes(h), key, value, salt)
        return None

    def cmd_dht_put_immutable(self, cid, cmd):
        s = self.session(cmd)
        if cmd.get('value_hex') is not None:
            raw = bytes.fromhex(cmd['value_hex'])
            entry = lt.bdecode(raw)
            if entry is None:
                raise usage('value_hex is not bencoded')
        elif isinstance(cmd.get('value'), str):
            raw = bencode(cmd['value'])
            entry = cmd['value'].encode('utf-8')
        else:
            raise usage('value (string) or value_hex is required')
        target = hashlib.sha1(raw).hexdigest()
        p = PutWait(self, cid, s, lambda a: a['target'] == target, self.timeout(cmd, 5000))
        self.pending.append(p)
        got = hexb(s.ses.dht_put_immutable_item(entry))
        if got != target:
            log(f'put_immutable: libtorrent target {got} != sha1 of the given bytes {target}')
            p.match = lambda a: a['target'] == got
        return None

    def cmd_dht_get_immutable(self, cid, cmd):
        s = self.session(cmd)
        target = unhex(cmd.get('target'), (20,), 'target')
        p = ImmutableGetWait(self, cid, s, target.hex(), self.timeout(cmd, 5000))
        self.pending.append(p)
        s.ses.dht_get_immutable_item(lt.sha1_hash(target))
        return None

    def cmd_dht_nodes(self, cid, cmd):
        s = self.session(cmd)
        if s.node_id is None:
            s.read_node_id()
        p = NodesWait(self, cid, s, self.timeout(cmd, 3000))
        self.pending.append(p)
        s.ses.dht_live_nodes(lt.sha1_hash(bytes.fromhex(s.node_id or '00' * 20)))
        return None

    def cmd_stats(self, cid, cmd):
        s = self.session(cmd)
        names = cmd.get('counters') or []
        if not isinstance(names, list):
            raise usage('counters must be a list of names')
        p = StatsWait(self, cid, s, names, self.timeout(cmd, 3000))
        self.pending.append(p)
        s.ses.post_session_stats()
        return None

    def cmd_stop(self, cid, cmd):
        self.shutdown()
        self.reply(cid, {})
        self.running = False
        return None

    # -- lifecycle
    def shutdown(self):
        if self._shut:
            return
        self._shut = True
        t0 = now()
        watchdog = threading.Timer(SHUTDOWN_WATCHDOG_S, lambda: os._exit(3))
        watchdog.daemon = True
        watchdog.start()
        for p in self.pending:
            if not p.done:
                p.fail('ERR_LT_STATE', 'ltnet is stopping')
        self.pending = []
        for s in self.sessions:
            try:
                s.ses.pause()
                for h in s.ses.get_torrents():
                    s.ses.remove_torrent(h)
            except RuntimeError as exc:
                log(f'session {s.index}: {exc}')
        for s in self.sessions:
            s.by_handle.clear()
            s.by_ih.clear()
            s.ses = None                       # the destructor stops the session (blocking)
        self.sessions = []
        if self._raw is not None:
            self._raw.close()
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        watchdog.cancel()
        if DEBUG:
            log(f'shutdown in {ms_since(t0)} ms')

    def tick_pending(self):
        t = now()
        keep = []
        for p in self.pending:
            if not p.done:
                if t >= p.deadline:
                    p.on_timeout()
                else:
                    p.on_tick()
            if not p.done:
                keep.append(p)
        self.pending = keep

    def read_stdin(self):
        try:
            chunk = os.read(0, 1 << 20)
        except (BlockingIOError, InterruptedError):
            return
        if not chunk:
            log('stdin closed: stopping')
            self.running = False
            return
        self.inbuf += chunk
        if len(self.inbuf) > MAX_LINE and b'\n' not in self.inbuf:
            log('command line too long: dropped')
            self.inbuf = b''
            return
        while b'\n' in self.inbuf and self.running:
            line, self.inbuf = self.inbuf.split(b'\n', 1)
            if line.strip():
                self.handle_line(line.decode('utf-8', 'replace'))

    def loop(self):
        self.emit('ready', {'libtorrent': lt.__version__, 'pid': os.getpid()})
        while self.running:
            wait = TICK_S
            if self.pending:
                wait = max(0.0, min(wait, min(p.deadline for p in self.pending) - now()))
            fds = [0, self.alert_r] + ([self._raw] if self._raw is not None else [])
            try:
                r, _, _ = select.select(fds, [], [], wait)
            except InterruptedError:
                r = []
            self.pump_alerts()
            if self._raw is not None and self._raw in r:
                self._raw.on_readable()
            if 0 in r:
                self.read_stdin()
            if self.running:
                self.pump_alerts()
                self.tick_pending()


def main():
    net = LtNet()

    def on_signal(signum, frame):
        net.running = False
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        net.loop()
    finally:
        net.shutdown()
    sys.stdout.flush()
    return 0


if __name__ == '__main__':
    sys.exit(main())
