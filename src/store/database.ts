// The SQLite handle of the store: one better-sqlite3 connection, opened read-write (the one
// writer: the harvester) or read-only (`stats`, `search`, `export` from another process while
// the harvester writes). WAL lets readers run beside the writer without blocking either;
// busy_timeout covers the short moments WAL still takes a lock (checkpoints, a second writer
// starting). Every SQLite failure leaves this module as a StoreError with a clear message and
// the SqliteError as its cause.

import BetterSqlite3 from 'better-sqlite3'
import type { Database as Handle, Statement } from 'better-sqlite3'
import { existsSync, statSync } from 'node:fs'
import { StoreError, errorMessage } from '../core/errors.js'
import { migrate, checkSchema, SCHEMA_VERSION } from './migrations.js'

export interface OpenOptions {
  /** Open for reading only: no migrations, no writes, no WAL setup (the writer did that). */
  readonly?: boolean
  /** How long a statement waits for a lock before SQLITE_BUSY, ms. */
  busyTimeoutMs?: number
  /** Page cache of this connection, MiB. Random 20-byte keys touch pages all over the indexes. */
  cacheMiB?: number
}

/** Waiting 5 s for a lock outlasts any checkpoint; a longer wait means a stuck writer. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5000
/** 64 MiB keeps the hot index pages of a few million torrents in memory. */
export const DEFAULT_CACHE_MIB = 64
/** After a checkpoint the WAL file is truncated back to this, so it does not stay at its peak. */
const WAL_SIZE_LIMIT = 64 * 1024 * 1024

export class StoreDb {
  readonly path: string
  readonly readonly: boolean
  #db: Handle | null
  // Statements are compiled once per connection: preparing costs more than running a point
  // lookup, and the crawler's hot path runs the same few statements millions of times.
  readonly #stmts = new Map<string, Statement>()

  constructor (path: string, db: Handle, readonly: boolean) {
    this.path = path
    this.#db = db
    this.readonly = readonly
  }

  get isOpen (): boolean {
    return this.#db !== null
  }

  /** The better-sqlite3 handle, for the store modules; throws once closed. */
  get raw (): Handle {
    if (this.#db === null) throw new StoreError(`store ${this.path} is closed`)
    return this.#db
  }

  /** A prepared statement, compiled on first use and cached for the life of the connection. */
  prepare (sql: string): Statement {
    let s = this.#stmts.get(sql)
    if (s === undefined) {
      s = sqlite(`preparing a statement on ${this.path}`, () => this.raw.prepare(sql))
      this.#stmts.set(sql, s)
    }
    return s
  }

  /**
   * Run fn in one write transaction. BEGIN IMMEDIATE takes the write lock up front, so a
   * second writer waits for busy_timeout instead of failing halfway with SQLITE_BUSY_SNAPSHOT.
   * Nested calls become savepoints of the outer transaction.
   */
  write<T> (op: string, fn: () => T): T {
    if (this.readonly) throw new StoreError(`${op}: store ${this.path} is opened read-only`)
    const db = this.raw
    return sqlite(op, () => db.inTransaction ? db.transaction(fn)() : db.transaction(fn).immediate())
  }

  /** Run fn as one read transaction: every statement in it sees the same snapshot. */
  read<T> (op: string, fn: () => T): T {
    const db = this.raw
    return sqlite(op, () => db.inTransaction ? fn() : db.transaction(fn).deferred())
  }

  /** Bytes the database takes on disk: the main file plus the WAL not yet checkpointed. */
  sizeBytes (): number {
    const pages = this.prepare('PRAGMA page_count').pluck().get() as number
    const pageSize = this.prepare('PRAGMA page_size').pluck().get() as number
    let wal = 0
    try { wal = statSync(`${this.path}-wal`).size } catch { /* no WAL file: nothing pending */ }
    return pages * pageSize + wal
  }

  /** Close the connection. Idempotent; statements die with it. */
  close (): void {
    const db = this.#db
    if (db === null) return
    this.#db = null
    this.#stmts.clear()
    try {
      // Lets SQLite refresh the planner statistics it found missing while this connection ran.
      if (!this.readonly) db.pragma('optimize')
    } catch { /* a failed optimize must not keep the handle open */ }
    db.close()
  }
}

/**
 * Open (and for a writer, create and migrate) the database at path. A file that is not a
 * SQLite database, is another program's database, or holds a schema this code does not know
 * gives a StoreError naming the path; the handle is closed before the error leaves.
 */
export function open (path: string, opts: OpenOptions = {}): StoreDb {
  const readonly = opts.readonly ?? false
  if (readonly && !existsSync(path)) throw new StoreError(`no store at ${path} (a read-only open does not create one)`)
  let db: Handle
  try {
    db = new BetterSqlite3(path, { readonly, fileMustExist: readonly })
  } catch (err) {
    throw new StoreError(`cannot open store ${path}: ${errorMessage(err)}`, { cause: err })
  }
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS))}`)
    db.pragma(`cache_size = ${-Math.max(1, Math.floor(opts.cacheMiB ?? DEFAULT_CACHE_MIB)) * 1024}`)
    // The first real read of the file: garbage bytes fail here with SQLITE_NOTADB.
    db.pragma('foreign_keys = ON')
    db.pragma('temp_store = MEMORY')
    if (!readonly) {
      const mode = db.pragma('journal_mode = WAL', { simple: true })
      if (mode !== 'wal') throw new StoreError(`store ${path}: cannot switch to WAL (journal_mode is ${String(mode)})`)
      // NORMAL in WAL mode: a power cut may lose the last transactions, never corrupts the file.
      db.pragma('synchronous = NORMAL')
      db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`)
      migrate(db, path)
    } else {
      checkSchema(db, path)
    }
    return new StoreDb(path, db, readonly)
  } catch (err) {
    try { db.close() } catch { /* already failing; the first error is the one to report */ }
    if (err instanceof StoreError) throw err
    if (err instanceof BetterSqlite3.SqliteError) {
      throw new StoreError(`cannot open store ${path}: ${err.message} (${err.code})`, { cause: err })
    }
    throw err
  }
}

/**
 * Run a better-sqlite3 call; a SqliteError becomes a StoreError naming the operation. Our
 * own errors and programmer errors (TypeError, RangeError from bad bindings) pass unchanged.
 */
export function sqlite<T> (op: string, fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    if (err instanceof BetterSqlite3.SqliteError) {
      throw new StoreError(`${op}: ${err.message} (${err.code})`, { cause: err })
    }
    throw err
  }
}

export { SCHEMA_VERSION }

/** A Uint8Array as a Buffer over the same memory (better-sqlite3 binds both; this keeps types simple). */
export function asBuffer (b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)
}
