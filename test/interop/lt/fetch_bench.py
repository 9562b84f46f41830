#!/usr/bin/python3
"""The libtorrent BEP-9 fetch baseline: how many metadata fetches per second libtorrent 2.0 does
on loopback, to compare bbmesh's fetcher against (INTEROP.md, "Baselines measured here").

It drives ltnet.py (same folder) and its `fetch_metadata` command: one fetcher session adds every
magnet at once (async_add_torrent, upload_mode, the seeder given as a peer like x.pe) and the rate
is fetched / (wall time from the first add to the last metadata_received_alert).

Usage (Debian's interpreter, which has python3-libtorrent):
  /usr/bin/python3 test/interop/lt/fetch_bench.py --self-seed 100
      make 100 small single-file torrents in a temporary folder, seed them from one libtorrent
      session (listen_queue_size 1024, seed_mode), fetch them from another.
  /usr/bin/python3 test/interop/lt/fetch_bench.py --magnets FILE     (FILE or - for stdin)
      fetch what someone else seeds (e.g. bbmesh's own seeder). One item a line: a magnet URI
      (xt=urn:btih:<40 hex> or urn:btmh:1220<64 hex>, seeders as x.pe=host:port) or a JSON
      object {"infohash": hex, "peers": [[host, port]]}. Peers must be on 127.0.0.0/8.
Options:
  --profile fast|stock|harness   fetcher settings (default fast: connection_speed and
                                 torrent_connect_boost 1000, TCP only; stock = libtorrent defaults)
  --size BYTES                   file size of each self-seeded torrent (default 4096)
  --mode v1|v2|hybrid            self-seeded torrent format (default v1)
  --timeout S                    deadline of the fetch (default 120); the whole run is bounded
                                 by timeout + 60 s
  --repeat K                     run the fetch K times (new fetcher session each time)
Output: one JSON object on stdout per run, e.g.
  {"profile": "fast", "count": 100, "fetched": 100, "failed": 0, "wall_ms": 540.2,
   "fetches_per_s": 185.1, "latency_ms": {"p50": ..., "p95": ..., "max": ...}}
Measured here (2 cores, 4 KiB v1 torrents, one seeder session): fast 100 -> ~160-188/s, 400 ->
~520-630/s; stock 100 -> ~28.5/s. A batch finishes in about one libtorrent connect tick
(~0.5 s), so the rate grows with the batch size: compare runs of the same size only.
Progress goes to stderr. Exit code 0 when every magnet was fetched, 1 otherwise, 2 on misuse.
"""

import argparse
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import parse_qs, urlparse

HERE = os.path.dirname(os.path.abspath(__file__))
LTNET = os.path.join(HERE, 'ltnet.py')


class LtNetClient:
    """Minimal JSON-lines client of ltnet.py (the TypeScript one is test/helpers/libtorrent.ts)."""

    def __init__(self):
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE='1')
        self.proc = subprocess.Popen(['/usr/bin/python3', LTNET], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1, env=env)
        self.lines = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()
        ready = self._wait(lambda m: m.get('event') == 'ready', 20)
        if ready is None:
            raise RuntimeError('ltnet did not start')

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                pass
        self.lines.put(None)

    def _wait(self, pred, timeout_s):
        end = time.monotonic() + timeout_s
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            try:
                m = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if m is None:
                raise RuntimeError(f'ltnet exited (code {self.proc.poll()})')
            if pred(m):
                return m

    def call(self, cmd, timeout_s=30, **args):
        self.next_id += 1
        cid = self.next_id
        self.proc.stdin.write(json.dumps(dict(args, id=cid, cmd=cmd)) + '\n')
        self.proc.stdin.flush()
        m = self._wait(lambda x: x.get('id') == cid, timeout_s)
        if m is None:
            raise RuntimeError(f'{cmd}: no reply within {timeout_s} s')
        if not m['ok']:
            raise RuntimeError(f'{cmd}: {m["error"]["code"]}: {m["error"]["message"]}')
        return m['result']

    def close(self):
        try:
            if self.proc.poll() is None:
                self.call('stop', timeout_s=15)
        except (RuntimeError, BrokenPipeError, OSError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def parse_item(line):
    line = line.strip()
    if not line or line.startswith('#'):
        return None
    if line.startswith('{'):
        o = json.loads(line)
        return {'infohash': o['infohash'].lower(), 'peers': o.get('peers', [])}
    if not line.startswith('magnet:'):
        raise ValueError(f'not a magnet or JSON object: {line[:60]}')
    q = parse_qs(urlparse(line).query)
    ih = None
    for xt in q.get('xt', []):
        m = re.fullmatch(r'urn:btih:([0-9a-fA-F]{40})', xt) or re.fullmatch(r'urn:btmh:1220([0-9a-fA-F]{64})', xt)
        if m:
            ih = m.group(1).lower()
    if ih is None:
        raise ValueError(f'no hex btih/btmh in {line[:60]}')
    peers = []
    for pe in q.get('x.pe', []):
        host, _, port = pe.rpartition(':')
        peers.append([host.strip('[]'), int(port)])
    return {'infohash': ih, 'peers': peers}


def self_seed(net, n, size, mode, tmp):
    log(f'making {n} torrents of {size} bytes ({mode})')
    seeder = net.call('start', sessions=1, link='none', min_nodes=0,
                      settings={'listen_queue_size': 1024})['sessions'][0]
    items = []
    t0 = time.monotonic()
    for i in range(n):
        d = os.path.join(tmp, f't{i:05d}')
        os.makedirs(d)
        path = os.path.join(d, f'file-{i:05d}.bin')
        with open(path, 'wb') as f:
            f.write(os.urandom(size))
        t = net.call('create_torrent', path=path, mode=mode)
        net.call('seed', session=seeder['session'], torrent_b64=t['torrent_b64'], save_path=d, skip_check=True)
        items.append({'infohash': t['v1'] or t['v2'], 'peers': [[seeder['host'], seeder['port']]]})
    log(f'seeding {n} torrents from {seeder["host"]}:{seeder["port"]} after {time.monotonic() - t0:.1f} s')
    return items


def log(msg):
    sys.stderr.write(f'fetch_bench: {msg}\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument('--self-seed', type=int, metavar='N')
    src.add_argument('--magnets', metavar='FILE')
    ap.add_argument('--profile', default='fast', choices=['fast', 'stock', 'harness'])
    ap.add_argument('--size', type=int, default=4096)
    ap.add_argument('--mode', default='v1', choices=['v1', 'v2', 'hybrid'])
    ap.add_argument('--timeout', type=float, default=120)
    ap.add_argument('--repeat', type=int, default=1)
    args = ap.parse_args()
    if args.self_seed is not None and not 1 <= args.self_seed <= 20000:
        ap.error('--self-seed takes 1..20000')

    hard = threading.Timer(args.timeout * args.repeat + 60 + (args.self_seed or 0) * 0.05,
                           lambda: (log('hard deadline passed'), os._exit(1)))
    hard.daemon = True
    hard.start()
    tmp = tempfile.mkdtemp(prefix='fetch-bench-')
    net = None
    ok = True
    try:
        net = LtNetClient()
        if args.self_seed is not None:
            items = self_seed(net, args.self_seed, args.size, args.mode, tmp)
        else:
            fh = sys.stdin if args.magnets == '-' else open(args.magnets, encoding='utf-8')
            with fh:
                items = [x for x in (parse_item(line) for line in fh) if x is not None]
            if not items:
                ap.error('no magnets given')
        for _ in range(args.repeat):
            fetcher = net.call('start', sessions=1, profile=args.profile, link='none', min_nodes=0)['sessions'][0]
            r = net.call('fetch_metadata', timeout_s=args.timeout + 30, session=fetcher['session'],
                         items=items, timeout_ms=int(args.timeout * 1000))
            out = {'profile': args.profile, 'count': r['count'], 'fetched': r['fetched'],
                   'failed': len(r['failed']), 'wall_ms': r['wall_ms'], 'fetches_per_s': r['fetches_per_s'],
                   'latency_ms': r['latency_ms']}
            print(json.dumps(out), flush=True)
            ok = ok and r['fetched'] == r['count']
            # a fresh fetcher next time; the old one keeps no torrents (removed on metadata)
    except (RuntimeError, ValueError, OSError) as exc:
        log(str(exc))
        ok = False
    finally:
        if net is not None:
            net.close()
        shutil.rmtree(tmp, ignore_errors=True)
        hard.cancel()
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
