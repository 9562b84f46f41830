// Numbered schema migrations. Migration N takes a database at user_version N-1 to N; each
// runs in its own write transaction together with the user_version bump, so a crash leaves
// the file at N-1 or N, never between. The schema is described in docs/store.md; keep both
// in step. Migrations are append-only: a released one is never edited, a change is a new one.
//
// Schema v1
// ---------
// torrents         one row per torrent, however many infohashes it has (a hybrid's v1 and v2
//                  hashes are the same row: that is what links them).
//   id             INTEGER PRIMARY KEY: insertion order; search returns newest first by it.
//   ih_v1          20-byte SHA-1 of the info dict (v1, hybrid), else NULL. Unique.
//   ih_v2          32-byte SHA-256 of the info dict (v2, hybrid), else NULL.
//   ih_v2_20       VIRTUAL generated column: the first 20 bytes of ih_v2, the form the DHT and
//                  the wire carry. Unique index on it, which also makes ih_v2 unique; it takes
//                  no space in the row and cannot disagree with ih_v2.
//   name, total_size, file_count, piece_length, version (1 v1, 2 v2, 3 hybrid), private,
//   raw_info       the info dict exactly as received (its hash is the infohash),
//   source         where we learnt of it ('sample', 'import', ...), discovered_at (unix ms).
// files            (torrent_id, idx) clustered (WITHOUT ROWID): a torrent's files are one range.
//   path, size, pieces_root (32 bytes, v2/hybrid non-empty files; partial index for lookups).
// torrents_fts     FTS5 over torrents.name, external content (the name lives in torrents; the
//                  index stores only postings), fed by the store in the same transaction as
//                  the row, not by triggers. columnsize=0: no per-row size table, as we never
//                  rank by bm25. detail=full keeps positions so a word the tokenizer splits
//                  (e.g. "a-b" typed as one word) is still a valid phrase.
// infohashes_seen  (ih) WITHOUT ROWID: every infohash the crawler met, first/last seen (unix ms),
//                  count, and the source of its first sighting.
// fetch_queue      (ih) WITHOUT ROWID: metadata still to fetch. state 0 pending, 1 leased (a
//                  worker holds it until lease_until), 2 failed (gave up after maxAttempts;
//                  kept so it is not queued again at once, revived after next_attempt_at).
//                  It lives in the database so a restart after a crash resumes the work.
// counters         (name, value): row counts kept in the same transactions as the rows, so
//                  stats() never scans millions of rows.
//
// Schema v2
// ---------
// torrent_exts     (ext, torrent_id) WITHOUT ROWID: each distinct file extension of each
//                  torrent (extOf in src/search/request.ts: after the last '.', 1-16 letters
//                  or digits, lower case). The search filter `ext` checks one candidate with
//                  one primary-key seek, whatever the torrent's file count. Written by
//                  addTorrents in the torrent's transaction; migration 2 fills it from files.
//                  No foreign key: nothing deletes torrents, and a cascade would need a second
//                  index on torrent_id.
// torrents_search  index on torrents (id, name, total_size, file_count, discovered_at, ih_v1,
//                  ih_v2): everything a search reads of a match, so search never touches the
//                  wide rows (the info dicts, often tens of KB with overflow pages, and
//                  discovered_at stored after them). ~90 bytes a torrent; rows are appended in
//                  id order, so it stays dense and its hot end stays cached.
//
// Schema v3
// ---------
// torrents_harvested  partial index on torrents (id) of the rows we harvested ourselves (source
//                  neither 'import' nor 'catalog…'): the BEP-51 responder samples from it
//                  (one seek per draw), so a node never advertises torrents it only imported
//                  from a file or a publisher's catalog, which may have no swarm at all.

import type { Database as Handle } from 'better-sqlite3'
import { StoreError } from '../core/errors.js'
import { extOf } from '../search/request.js'

/** The rows we harvested ourselves: the WHERE of the torrents_harvested partial index, which a query must repeat word for word to use it. */
export const HARVESTED_SQL = "source <> 'import' AND substr(source, 1, 7) <> 'catalog'"

export interface Migration {
  version: number
  name: string
  up: (db: Handle) => void
}

/** 'bbms': marks the file as a bbmesh store (PRAGMA application_id), so we never migrate someone else's database. */
export const APPLICATION_ID = 0x62626d73

export const COUNTER_NAMES = ['torrents_v1', 'torrents_v2', 'torrents_hybrid', 'seen', 'queue_active', 'queue_failed'] as const
export type CounterName = typeof COUNTER_NAMES[number]

export const MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    version: 1,
    name: 'torrents, files, fts, seen, fetch queue, counters',
    up (db: Handle): void {
      db.exec(`
        CREATE TABLE torrents (
          id            INTEGER PRIMARY KEY,
          ih_v1         BLOB CHECK (ih_v1 IS NULL OR (typeof(ih_v1) = 'blob' AND length(ih_v1) = 20)),
          ih_v2         BLOB CHECK (ih_v2 IS NULL OR (typeof(ih_v2) = 'blob' AND length(ih_v2) = 32)),
          ih_v2_20      BLOB GENERATED ALWAYS AS (substr(ih_v2, 1, 20)) VIRTUAL,
          name          TEXT NOT NULL,
          total_size    INTEGER NOT NULL CHECK (total_size >= 0),
          file_count    INTEGER NOT NULL CHECK (file_count >= 0),
          piece_length  INTEGER NOT NULL CHECK (piece_length > 0),
          version       INTEGER NOT NULL CHECK (version IN (1, 2, 3)),
          private       INTEGER NOT NULL CHECK (private IN (0, 1)),
          raw_info      BLOB NOT NULL,
          source        TEXT NOT NULL,
          discovered_at INTEGER NOT NULL,
          CHECK ((version = 1 AND ih_v1 IS NOT NULL AND ih_v2 IS NULL)
              OR (version = 2 AND ih_v1 IS NULL AND ih_v2 IS NOT NULL)
              OR (version = 3 AND ih_v1 IS NOT NULL AND ih_v2 IS NOT NULL))
        );
        -- Partial: a v2-only torrent has no v1 hash and costs no entry here (and vice versa).
        CREATE UNIQUE INDEX torrents_ih_v1 ON torrents (ih_v1) WHERE ih_v1 IS NOT NULL;
        CREATE UNIQUE INDEX torrents_ih_v2_20 ON torrents (ih_v2_20) WHERE ih_v2_20 IS NOT NULL;

        CREATE TABLE files (
          torrent_id  INTEGER NOT NULL REFERENCES torrents (id) ON DELETE CASCADE,
          idx         INTEGER NOT NULL,
          path        TEXT NOT NULL,
          size        INTEGER NOT NULL CHECK (size >= 0),
          pieces_root BLOB CHECK (pieces_root IS NULL OR length(pieces_root) = 32),
          PRIMARY KEY (torrent_id, idx)
        ) WITHOUT ROWID;
        CREATE INDEX files_pieces_root ON files (pieces_root) WHERE pieces_root IS NOT NULL;

        CREATE VIRTUAL TABLE torrents_fts USING fts5 (
          name,
          content = 'torrents', content_rowid = 'id',
          detail = full, columnsize = 0,
          tokenize = 'unicode61 remove_diacritics 2'
        );

        CREATE TABLE infohashes_seen (
          ih         BLOB PRIMARY KEY CHECK (length(ih) = 20),
          first_seen INTEGER NOT NULL,
          last_seen  INTEGER NOT NULL,
          count      INTEGER NOT NULL,
          source     TEXT NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE fetch_queue (
          ih              BLOB PRIMARY KEY CHECK (length(ih) = 20),
          state           INTEGER NOT NULL CHECK (state IN (0, 1, 2)),
          attempts        INTEGER NOT NULL DEFAULT 0,
          next_attempt_at INTEGER NOT NULL,
          lease_until     INTEGER,
          last_error      TEXT,
          enqueued_at     INTEGER NOT NULL
        ) WITHOUT ROWID;
        -- lease(): the pending items that are due, oldest due first. Its state = 1 range
        -- holds only the leased rows (as many as fetches in flight), which is all that
        -- finding expired leases and counting leases need to read.
        CREATE INDEX fetch_queue_due ON fetch_queue (state, next_attempt_at);

        CREATE TABLE counters (
          name  TEXT PRIMARY KEY,
          value INTEGER NOT NULL
        ) WITHOUT ROWID;
      `)
      const ins = db.prepare('INSERT INTO counters (name, value) VALUES (?, 0)')
      for (const n of COUNTER_NAMES) ins.run(n)
      db.pragma(`application_id = ${APPLICATION_ID}`)
    },
  },
  {
    version: 2,
    name: 'file extensions per torrent, narrow index of what search reads',
    up (db: Handle): void {
      db.exec(`
        CREATE TABLE torrent_exts (
          ext        TEXT NOT NULL,
          torrent_id INTEGER NOT NULL,
          PRIMARY KEY (ext, torrent_id)
        ) WITHOUT ROWID;
        CREATE INDEX torrents_search ON torrents (id, name, total_size, file_count, discovered_at, ih_v1, ih_v2);
      `)
      // One pass over files (in torrent order), the extension computed by the same function
      // addTorrents uses. ~1M torrents of 4 files take seconds (docs/store.md).
      db.function('bbmesh_ext', { deterministic: true }, (p: unknown) => typeof p === 'string' ? extOf(p) : null)
      db.exec(`
        INSERT INTO torrent_exts (ext, torrent_id)
        SELECT e, torrent_id FROM (SELECT bbmesh_ext(path) AS e, torrent_id FROM files)
        WHERE e IS NOT NULL
        ON CONFLICT DO NOTHING
      `)
    },
  },
  {
    version: 3,
    name: 'partial index of the torrents harvested (not imported), for BEP-51 samples',
    up (db: Handle): void {
      db.exec(`CREATE INDEX torrents_harvested ON torrents (id) WHERE ${HARVESTED_SQL}`)
    },
  },
])

/** The schema version this code writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS.length

function versionOf (db: Handle): number {
  return db.pragma('user_version', { simple: true }) as number
}

function checkOwner (db: Handle, path: string): number {
  const version = versionOf(db)
  const appId = db.pragma('application_id', { simple: true }) as number
  if (appId !== 0 && appId !== APPLICATION_ID) {
    throw new StoreError(`${path} is not a bbmesh store (application_id ${appId})`)
  }
  if (version === 0) {
    const tables = db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table'").pluck().get() as number
    if (tables > 0) throw new StoreError(`${path} is a SQLite database of another program (it has tables but no bbmesh schema)`)
  }
  return version
}

function refuseNewer (version: number, known: number, path: string): void {
  if (version > known) {
    throw new StoreError(`store ${path} has schema v${version}, newer than this bbmesh knows (v${known}): upgrade bbmesh`)
  }
}

/**
 * Bring a writable database up to the newest schema. A migration twice is a no-op: each
 * step re-reads user_version inside its own write transaction, so two processes opening at
 * once cannot apply a step twice.
 */
export function migrate (db: Handle, path: string, migrations: readonly Migration[] = MIGRATIONS): { from: number, to: number } {
  const known = migrations.length
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations out of order: entry ${i} has version ${m.version}`)
  })
  const from = checkOwner(db, path)
  refuseNewer(from, known, path)
  for (const m of migrations) {
    if (m.version <= from) continue
    db.transaction(() => {
      const v = versionOf(db)
      if (v >= m.version) return
      if (v !== m.version - 1) throw new StoreError(`store ${path}: migration ${m.version} needs schema v${m.version - 1}, found v${v}`)
      m.up(db)
      db.pragma(`user_version = ${m.version}`)
    }).immediate()
  }
  return { from, to: Math.max(from, known) }
}

/** For a read-only open: the schema must be exactly the one this code knows, as it cannot migrate. */
export function checkSchema (db: Handle, path: string, known: number = SCHEMA_VERSION): void {
  const v = checkOwner(db, path)
  if (v === 0) throw new StoreError(`${path} holds no bbmesh store yet (open it once read-write to create the schema)`)
  refuseNewer(v, known, path)
  if (v < known) throw new StoreError(`store ${path} has schema v${v}, older than this bbmesh (v${known}): open it once read-write to migrate`)
}
