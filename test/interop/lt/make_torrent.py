#!/usr/bin/python3
"""libtorrent's side of the torrent interop tests (and the fixture maker).

Usage:
  make_torrent.py '<json request>'      # or the request on stdin
  make_torrent.py --fixtures OUTDIR      # write fixtures/torrents/*.torrent

A request is one object or a list of them; the answer (on stdout) is one JSON object or a
list in the same order.

  {"op": "create", "path": DIR_OR_FILE, "mode": "v1"|"v2"|"hybrid", "piece_length": N}
      lt.add_files + lt.create_torrent(fs, N, flags) + set_piece_hashes + generate.
      N = 0 lets libtorrent choose. The creation date is removed so output is repeatable.
  {"op": "inspect", "torrent": BASE64}
      load a .torrent with lt.torrent_info (which checks piece layers) and describe it.

Both answer {"ok": true, "v1": hex|null, "v2": hex(64)|null, "name", "piece_length",
"num_pieces", "total_size", "files": [{"path", "size", "pad", "executable"}],
"torrent": BASE64 (create only)}, or {"ok": false, "error": "..."}.
"""

import base64
import json
import os
import sys

try:
    import libtorrent as lt
except Exception as e:  # the caller turns this into a failing test, never a skip
    print(json.dumps({"ok": False, "error": "cannot import libtorrent (python3-libtorrent): %s" % e}))
    sys.exit(3)

FLAGS = {
    "v1": lt.create_torrent.v1_only,
    "v2": lt.create_torrent.v2_only,
    "hybrid": 0,
}


def hexdigest(h):
    if h is None:
        return None
    s = str(h)
    return None if set(s) == {"0"} else s


def describe(ti):
    fs = ti.files()
    files = []
    for i in range(fs.num_files()):
        flags = fs.file_flags(i)
        files.append({
            "path": fs.file_path(i),
            "size": fs.file_size(i),
            "pad": bool(flags & lt.file_storage.flag_pad_file),
            "executable": bool(flags & lt.file_storage.flag_executable),
        })
    ih = ti.info_hashes()
    return {
        "ok": True,
        "v1": hexdigest(ih.v1) if ih.has_v1() else None,
        "v2": hexdigest(ih.v2) if ih.has_v2() else None,
        "name": ti.name(),
        "piece_length": ti.piece_length(),
        "num_pieces": ti.num_pieces(),
        "total_size": ti.total_size(),
        "files": files,
    }


def create(req):
    path = os.path.abspath(req["path"])
    fs = lt.file_storage()
    lt.add_files(fs, path)
    ct = lt.create_torrent(fs, int(req.get("piece_length", 0)), FLAGS[req["mode"]])
    lt.set_piece_hashes(ct, os.path.dirname(path))
    entry = ct.generate()
    entry.pop(b"creation date", None)
    buf = lt.bencode(entry)
    out = describe(lt.torrent_info(buf))
    out["torrent"] = base64.b64encode(buf).decode("ascii")
    return out


def inspect(req):
    return describe(lt.torrent_info(base64.b64decode(req["torrent"])))


def handle(req):
    try:
        if req.get("op") == "create":
            return create(req)
        if req.get("op") == "inspect":
            return inspect(req)
        return {"ok": False, "error": "unknown op %r" % req.get("op")}
    except Exception as e:
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}


def pattern(seed, size):
    """Deterministic file content: byte i = (i * 31 + seed) mod 251."""
    return bytes((i * 31 + seed) % 251 for i in range(size))


def make_fixtures(outdir):
    """Three small torrents over the same folder, one per mode, 16 KiB pieces."""
    import tempfile
    os.makedirs(outdir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "bbmesh fixture")
        os.makedirs(os.path.join(root, "docs"))
        with open(os.path.join(root, "readme.txt"), "wb") as f:
            f.write(pattern(1, 1000))
        with open(os.path.join(root, "docs", "big.bin"), "wb") as f:
            f.write(pattern(2, 40000))
        with open(os.path.join(root, "docs", "empty.dat"), "wb") as f:
            pass
        report = {}
        for mode in ("v1", "v2", "hybrid"):
            r = create({"path": root, "mode": mode, "piece_length": 16384})
            name = "lt-%s.torrent" % mode
            with open(os.path.join(outdir, name), "wb") as f:
                f.write(base64.b64decode(r["torrent"]))
            report[name] = {"v1": r["v1"], "v2": r["v2"]}
        print(json.dumps(report, indent=2))


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--fixtures":
        make_fixtures(sys.argv[2])
        return
    raw = sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read()
    req = json.loads(raw)
    out = [handle(r) for r in req] if isinstance(req, list) else handle(req)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
