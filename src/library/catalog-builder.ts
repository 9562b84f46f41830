// The catalog build off the event loop: buildCatalogInWorker() runs buildCatalog(recordsFromStore())
// in a worker thread (catalog-build-worker.ts) that opens the store read-only by its path, so a
// harvester publishing its index keeps answering the DHT, its links and its API while every
// byte of the catalog is hashed (seconds per 100k torrents). docs/library.md, "Publishing".
// buildCatalogToDiskInWorker() runs the streaming build instead (catalog-stream.ts): the worker
// writes the shard files to a directory and posts back only their metadata and the index, so
// neither thread ever holds the catalog (the publisher's path when it has a builder).
//
// One worker per build, terminated when the build ends (result, error, crash or abort): a build
// runs every few minutes at most, so a thread's start-up (~50 ms) costs nothing worth keeping a
// thread idle for. The result crosses back with its big buffers transferred, not copied, and is
// rebuilt here into the very types buildCatalog returns (real Buffers, typed errors).
//
// This file holds both sides' wire helpers; the worker file imports them (nothing here runs on
// import).

import { Worker } from 'node:worker_threads'
import { abortReason } from '../core/deadline.js'
import {
  AbortedError, BbmeshError, ConfigError, DecodeError, HashMismatchError, KeyError, LimitError, NetworkError,
  PointerError, ProtocolError, SchemaError, StoreError, TimeoutError, UsageError,
  type KeyErrorReason, type PointerErrorReason,
} from '../core/errors.js'
import type { CreatedTorrent } from '../torrent/create.js'
import type { TorrentInfo, TorrentRecord } from '../torrent/types.js'
import type { Catalog } from './catalog.js'
import type { CatalogIndex } from './catalog-format.js'
import type { DiskCatalog } from './catalog-stream.js'

/** What the worker is asked to build (its workerData). */
export interface WorkerBuildRequest {
  /** The SQLite store, opened read-only (WAL lets it read beside the writer). */
  dbPath: string
  /** Keep records imported from other publishers' catalogs (source `catalog:*`). */
  includeCatalogs: boolean
  previous?: CatalogIndex
  maxBytes?: number
  /** Stream the catalog to this shard directory (buildCatalogToDisk) instead of building it in memory. */
  outDir?: string
}

export interface WorkerBuildOptions extends WorkerBuildRequest {
  /** Aborting terminates the worker; the promise rejects with the signal's typed reason. */
  signal?: AbortSignal
  /** Another worker script (tests: one that dies); default catalog-build-worker.js beside this file. */
  workerUrl?: URL
}

/** What a CatalogPublisher asks its builder for (publisher.ts `builder`). */
export interface CatalogBuildRequest {
  previous: CatalogIndex | null
  includeCatalogs: boolean
  maxBytes?: number
  /** Where the publisher wants shard files written (a disk-backed build); absent: in memory. */
  outDir?: string
  signal: AbortSignal
}

/** Builds the catalog: in memory (Catalog) or, given outDir, to disk (DiskCatalog). */
export type CatalogBuilder = (req: CatalogBuildRequest) => Promise<Catalog | DiskCatalog>

/** The records a publisher puts in its catalog: its own, plus other catalogs' only when asked. */
export function catalogSourceFilter (includeCatalogs: boolean): ((t: TorrentRecord) => boolean) | undefined {
  return includeCatalogs ? undefined : (t) => !t.source.startsWith('catalog')
}

/**
 * A CatalogPublisher builder that builds from the store at dbPath in a worker thread: streamed
 * to disk when the publisher names a shard directory (outDir), else in memory.
 */
export function workerCatalogBuilder (dbPath: string): CatalogBuilder {
  return async (req) => {
    const opts: WorkerBuildOptions = {
      dbPath,
      includeCatalogs: req.includeCatalogs,
      ...(req.previous !== null ? { previous: req.previous } : {}),
      ...(req.maxBytes !== undefined ? { maxBytes: req.maxBytes } : {}),
      signal: req.signal,
    }
    return req.outDir !== undefined ? await buildCatalogToDiskInWorker({ ...opts, outDir: req.outDir }) : await buildCatalogInWorker(opts)
  }
}

// The compiled worker sits beside this file (dist/src/library/), whether loaded by the tests,
// the benches or bin/bbmesh.js.
const WORKER_URL = new URL('./catalog-build-worker.js', import.meta.url)

let live = 0
/** Build workers alive in this process (0 between builds): for tests and diagnostics. */
export function activeBuildWorkers (): number { return live }

/**
 * buildCatalog(recordsFromStore(openStore(dbPath, { readonly: true }), filter)) in a worker
 * thread. Resolves with the same Catalog (byte for byte, type for type); rejects with the
 * build's typed error (LimitError over the cap, StoreError for a missing or unreadable store),
 * a BbmeshError ERR_WORKER if the thread died without an answer, or the abort reason. The
 * thread is gone when the promise settles.
 */
export async function buildCatalogInWorker (opts: WorkerBuildOptions): Promise<Catalog> {
  const { outDir: _ignored, ...rest } = opts
  const reply = await runWorker(rest)
  if (!('catalog' in reply)) throw new BbmeshError('ERR_WORKER', 'catalog build worker answered with another kind of catalog')
  return catalogFromWire(reply.catalog)
}

/**
 * buildCatalogToDisk(openStore(dbPath, { readonly: true }), outDir, ...) in a worker thread:
 * the shard files are written there; this thread gets their metadata and the index. Errors,
 * abort and thread lifetime as buildCatalogInWorker. An aborted build leaves temp files the
 * next build removes.
 */
export async function buildCatalogToDiskInWorker (opts: WorkerBuildOptions & { outDir: string }): Promise<DiskCatalog> {
  const reply = await runWorker(opts)
  if (!('disk' in reply)) throw new BbmeshError('ERR_WORKER', 'catalog build worker answered with another kind of catalog')
  return diskCatalogFromWire(reply.disk)
}

async function runWorker (opts: WorkerBuildOptions): Promise<Exclude<WorkerReply, { ok: false }>> {
  const { signal } = opts
  if (signal?.aborted === true) throw abortReason(signal)
  const request: WorkerBuildRequest = {
    dbPath: opts.dbPath,
    includeCatalogs: opts.includeCatalogs,
    ...(opts.previous !== undefined ? { previous: opts.previous } : {}),
    ...(opts.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {}),
    ...(opts.outDir !== undefined ? { outDir: opts.outDir } : {}),
  }
  const worker = new Worker(opts.workerUrl ?? WORKER_URL, { workerData: request })
  live++
  const exited = new Promise<number>((resolve) => worker.once('exit', (code) => { live--; resolve(code) }))
  let onAbort: (() => void) | undefined
  let outcome: { reply: WorkerReply } | { failure: Error }
  try {
    // The first of: the answer, an uncaught error in the thread (out of memory, a module that
    // does not load), the thread's exit without an answer, the abort.
    outcome = await new Promise<typeof outcome>((resolve) => {
      worker.on('message', (reply: WorkerReply) => resolve({ reply }))
      worker.on('error', (err) => resolve({ failure: new BbmeshError('ERR_WORKER', `catalog build worker failed: ${err.message}`, { cause: err }) }))
      void exited.then((code) => resolve({ failure: new BbmeshError('ERR_WORKER', `catalog build worker exited (code ${code}) without a result`) }))
      if (signal !== undefined) {
        onAbort = () => resolve({ failure: abortReason(signal) })
        signal.addEventListener('abort', onAbort, { once: true })
      }
    })
  } finally {
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
    // Whatever happened, the thread is gone before the caller hears of it.
    await worker.terminate()
    await exited
  }
  if ('failure' in outcome) throw outcome.failure
  if (!outcome.reply.ok) throw errorFromWire(outcome.reply.error)
  return outcome.reply
}

// ------------------------------------------------------------------ wire (both sides)

/** An error as it crosses the thread boundary (structured clone keeps neither class nor code). */
export interface WireError {
  /** A BbmeshError (an expected failure) rather than a bug. */
  bbmesh: boolean
  name: string
  message: string
  code?: string
  reason?: string
  stack?: string
  cause?: WireError
}

export type WorkerReply = { ok: true, catalog: Catalog } | { ok: true, disk: DiskCatalog } | { ok: false, error: WireError }

export function errorToWire (err: unknown, depth = 0): WireError {
  if (!(err instanceof Error)) return { bbmesh: false, name: 'Error', message: String(err) }
  const w: WireError = { bbmesh: err instanceof BbmeshError, name: err.name, message: err.message }
  const { code, reason } = err as { code?: unknown, reason?: unknown }
  if (typeof code === 'string') w.code = code
  if (typeof reason === 'string') w.reason = reason
  if (err.stack !== undefined) w.stack = err.stack
  if (err.cause !== undefined && depth < 3) w.cause = errorToWire(err.cause, depth + 1)
  return w
}

type MessageError = new (message: string, options?: { cause?: unknown }) => BbmeshError
const BY_NAME: Record<string, MessageError> = {
  DecodeError, SchemaError, LimitError, HashMismatchError, TimeoutError, AbortedError, ProtocolError,
  UsageError, ConfigError, StoreError, NetworkError,
}

/**
 * The error the worker threw, as its class again: a BbmeshError subclass by name (when its
 * code agrees), else a BbmeshError with the original code and message. Anything else was a bug
 * in the worker and comes back as an Error of the same name, to be rethrown like a bug here.
 */
export function errorFromWire (w: WireError): Error {
  const options = w.cause !== undefined ? { cause: errorFromWire(w.cause) } : undefined
  let err: Error
  if (w.bbmesh) {
    const C = Object.hasOwn(BY_NAME, w.name) ? BY_NAME[w.name] : undefined
    const code = w.code ?? 'ERR_UNKNOWN'
    let e: BbmeshError | undefined = C !== undefined ? new C(w.message, options) : undefined
    if (w.name === 'KeyError') e = new KeyError(w.reason as KeyErrorReason, w.message, options)
    if (w.name === 'PointerError') e = new PointerError(w.reason as PointerErrorReason, w.message, options)
    err = e !== undefined && e.code === code ? e : new BbmeshError(code, w.message, options)
  } else {
    const Native = ({ TypeError, RangeError, ReferenceError, SyntaxError } as Record<string, ErrorConstructor>)[w.name] ?? Error
    err = new Native(w.message, options)
    if (err.name !== w.name) err.name = w.name
    if (w.code !== undefined) Object.assign(err, { code: w.code })
  }
  if (w.stack !== undefined) err.stack = w.stack
  return err
}

/** The buffers whose memory can move to the other thread: each owning all of its ArrayBuffer, once. */
export function transferList (cat: Catalog): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>()
  const add = (b: Uint8Array | undefined): void => {
    // A view of part of a buffer (Node's 8 KiB pool of small Buffers) would move its neighbours too.
    if (b !== undefined && b.buffer instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.byteLength > 0) out.add(b.buffer)
  }
  const torrent = (t: CreatedTorrent): void => {
    add(t.torrent); add(t.rawInfo); add(t.info.infohashV1); add(t.info.infohashV2)
    for (const f of t.info.files) add(f.piecesRoot)
    for (const l of t.pieceLayers.values()) add(l)
  }
  for (const s of cat.shards) { add(s.file); torrent(s.torrent) }
  add(cat.indexFile); torrent(cat.indexTorrent); add(cat.infohash); add(cat.infohashV2)
  for (const e of cat.index.shards) { add(e.ih); add(e.ih2) }
  return [...out]
}

/** A Buffer over the same memory (structured clone delivers Buffers as plain Uint8Arrays). */
const buf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength)
const optBuf = (u: Uint8Array | undefined): Buffer | undefined => u === undefined ? undefined : buf(u)

function infoFromWire (i: TorrentInfo): TorrentInfo {
  const out: TorrentInfo = { ...i, files: i.files.map((f) => f.piecesRoot === undefined ? { ...f } : { ...f, piecesRoot: buf(f.piecesRoot) }) }
  if (i.infohashV1 !== undefined) out.infohashV1 = optBuf(i.infohashV1)
  if (i.infohashV2 !== undefined) out.infohashV2 = optBuf(i.infohashV2)
  return out
}

function torrentFromWire (t: CreatedTorrent): CreatedTorrent {
  return {
    torrent: buf(t.torrent),
    rawInfo: buf(t.rawInfo),
    info: infoFromWire(t.info),
    pieceLayers: new Map([...t.pieceLayers].map(([k, v]) => [k, buf(v)])),
  }
}

export function indexFromWire (i: CatalogIndex): CatalogIndex {
  return { ...i, shards: i.shards.map((e) => ({ ...e, ih: buf(e.ih), ih2: buf(e.ih2) })) }
}

/** The catalog as buildCatalog returned it in the worker: Buffers, a Map, BbmeshErrors. */
export function catalogFromWire (c: Catalog): Catalog {
  const skippedErrors = (c.skippedErrors as unknown as Array<{ key: string, error: WireError }>).map((e) => {
    const error = errorFromWire(e.error)
    return { key: e.key, error: error instanceof BbmeshError ? error : new BbmeshError('ERR_WORKER', error.message, { cause: error }) }
  })
  return {
    ...c,
    shards: c.shards.map((s) => ({ ...s, file: buf(s.file), torrent: torrentFromWire(s.torrent) })),
    index: indexFromWire(c.index),
    indexFile: buf(c.indexFile),
    indexTorrent: torrentFromWire(c.indexTorrent),
    infohash: buf(c.infohash),
    infohashV2: buf(c.infohashV2),
    skippedErrors,
  }
}

function skippedFromWire (list: Catalog['skippedErrors']): Catalog['skippedErrors'] {
  return (list as unknown as Array<{ key: string, error: WireError }>).map((e) => {
    const error = errorFromWire(e.error)
    return { key: e.key, error: error instanceof BbmeshError ? error : new BbmeshError('ERR_WORKER', error.message, { cause: error }) }
  })
}

/** A disk catalog as the worker posted it: Buffers and BbmeshErrors again (small: metadata only). */
export function diskCatalogFromWire (c: DiskCatalog): DiskCatalog {
  return {
    ...c,
    shards: c.shards.map((s) => ({ ...s, ih: buf(s.ih), ih2: buf(s.ih2), rawInfo: buf(s.rawInfo) })),
    index: indexFromWire(c.index),
    indexFile: buf(c.indexFile),
    indexTorrent: torrentFromWire(c.indexTorrent),
    infohash: buf(c.infohash),
    infohashV2: buf(c.infohashV2),
    skippedErrors: skippedFromWire(c.skippedErrors),
  }
}

export function diskCatalogToWire (c: DiskCatalog): DiskCatalog {
  return { ...c, skippedErrors: c.skippedErrors.map((e) => ({ key: e.key, error: errorToWire(e.error) })) as unknown as Catalog['skippedErrors'] }
}

/** The catalog ready to post: errors flattened to WireError (the rest clones as it is). */
export function catalogToWire (c: Catalog): Catalog {
  return { ...c, skippedErrors: c.skippedErrors.map((e) => ({ key: e.key, error: errorToWire(e.error) })) as unknown as Catalog['skippedErrors'] }
}
