// `bbmesh make-torrent`: a v1, v2-only (BEP-52) or hybrid .torrent from a file or folder on
// disk, streamed (one chunk in memory at a time), with the very info dict libtorrent 2.0's
// create_torrent writes for the same files and piece length, so both tools' swarms merge.
// The .torrent is written atomically (temp file + rename) and never over an existing file
// without --force. SIGINT stops the hashing; nothing is left behind.

import { open, rename, link, unlink, stat } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { basename, dirname, join, resolve } from 'node:path'
import type { Command } from '../command.js'
import { parse } from '../args.js'
import type { Output } from '../output.js'
import { formatBytes } from '../output.js'
import { Progress } from '../progress.js'
import { waitForStop } from '../signals.js'
import { AbortedError, UsageError, errorMessage } from '../../core/errors.js'
import { createTorrent } from '../../torrent/create.js'
import type { CreateMode } from '../../torrent/create.js'
import { MIN_PIECE_LENGTH, MAX_PIECE_LENGTH } from '../../torrent/create-layout.js'
import { encodeTorrentFile } from '../../torrent/torrent-file.js'
import { checkComponent, checkNameBytes } from '../../torrent/path-safety.js'
import type { TorrentInfo } from '../../torrent/types.js'

/** Inputs at least this big get the live progress line on a terminal (`--progress auto`). */
export const PROGRESS_MIN_BYTES = 16 * 1024 * 1024
/** How often the progress line is redrawn / a JSON progress line may be written. */
const PROGRESS_EVERY_MS = 250
/** A comment is a line or a paragraph, not a payload. */
const MAX_COMMENT_BYTES = 64 * 1024
/** Exit code after SIGINT/SIGTERM (128 + SIGINT), as a shell reports an interrupted command. */
export const EXIT_INTERRUPTED = 130

type ProgressMode = 'auto' | 'tty' | 'json' | 'off'
const PROGRESS_MODES: readonly ProgressMode[] = ['auto', 'tty', 'json', 'off']

const UNITS: Record<string, number> = { '': 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 }

/** `--piece-length`: bytes, or with a K/KiB/M/MiB/G/GiB suffix; a power of two from 16 KiB to 1 GiB. */
export function parsePieceLength (s: string): number {
  const m = /^(\d{1,12})\s*([a-z]*)$/i.exec(s.trim())
  const mult = m === null ? undefined : UNITS[m[2].toLowerCase()]
  const n = m === null || mult === undefined ? NaN : Number(m[1]) * mult
  if (!Number.isSafeInteger(n) || n < MIN_PIECE_LENGTH || n > MAX_PIECE_LENGTH || (n & (n - 1)) !== 0) {
    throw new UsageError(`--piece-length ${JSON.stringify(s)}: must be a power of two from 16 KiB (16384) to 1 GiB (1073741824), e.g. 262144 or 256K`)
  }
  return n
}

/** The magnet link: btih for a v1 hash, btmh (multihash 0x12 0x20: SHA-256, 32 bytes) for a v2 one. */
export function magnetLink (info: TorrentInfo): string {
  const xt: string[] = []
  if (info.infohashV1 !== undefined) xt.push(`xt=urn:btih:${info.infohashV1.toString('hex')}`)
  if (info.infohashV2 !== undefined) xt.push(`xt=urn:btmh:1220${info.infohashV2.toString('hex')}`)
  return `magnet:?${xt.join('&')}&dn=${encodeURIComponent(info.name)}`
}

function errCode (e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined
}

/** Where the .torrent goes: its folder must exist; an existing file needs --force; never a folder. */
async function checkOutput (path: string, force: boolean): Promise<void> {
  try {
    const st = await stat(path)
    if (st.isDirectory()) throw new UsageError(`-o ${path} is a folder; give a file name`)
    if (!force) throw new UsageError(`${path} already exists; pass --force to overwrite it`)
  } catch (e) {
    if (e instanceof UsageError) throw e
    if (errCode(e) !== 'ENOENT') throw new UsageError(`cannot use -o ${path}: ${errorMessage(e)}`, { cause: e })
  }
  let dir
  try {
    dir = await stat(dirname(path))
  } catch (e) {
    throw new UsageError(`cannot write ${path}: folder ${dirname(path)} does not exist`, { cause: e })
  }
  if (!dir.isDirectory()) throw new UsageError(`cannot write ${path}: ${dirname(path)} is not a folder`)
}

/**
 * Write `data` to `path` atomically: a temp file in the same folder, synced, then renamed
 * over (with --force) or hard-linked into place (without, so a file that appeared meanwhile
 * is never replaced). The temp file is removed whatever happens; `signal` aborting before the
 * rename leaves nothing behind.
 */
async function writeAtomically (path: string, data: Uint8Array, force: boolean, signal: AbortSignal): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    const fh = await open(tmp, 'wx', 0o644)
    try {
      await fh.writeFile(data)
      await fh.sync()
    } finally {
      await fh.close()
    }
    if (signal.aborted) throw new AbortedError('make-torrent: interrupted')
    if (force) {
      await rename(tmp, path)
      return
    }
    try {
      await link(tmp, path) // fails with EEXIST instead of replacing
    } catch (e) {
      const code = errCode(e)
      if (code === 'EEXIST') throw new UsageError(`${path} already exists; pass --force to overwrite it`, { cause: e })
      // A file system without hard links: check, then rename (a small race, only there).
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e
      await checkOutput(path, false)
      await rename(tmp, path)
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof AbortedError) throw e
    throw new UsageError(`cannot write ${path}: ${errorMessage(e)}`, { cause: e })
  } finally {
    await unlink(tmp).catch(() => { /* renamed away, or never created */ })
  }
}

function progressLine (s: { hashed: number, total: number }): string {
  const pct = s.total === 0 ? 100 : Math.floor((s.hashed / s.total) * 100)
  return `hashing ${formatBytes(s.hashed)} / ${formatBytes(s.total)} (${pct}%)`
}

export const makeTorrentCommand: Command = {
  name: 'make-torrent',
  summary: 'create a v2 (BEP-52), hybrid or v1 .torrent from a file or folder',
  help: () => `Usage: bbmesh make-torrent PATH -o FILE [options]

Hashes the file or folder PATH (streamed from disk) and writes a .torrent. For the same files
and piece length the infohashes equal those of libtorrent 2.0's create_torrent, so torrents
made by either tool join the same swarm. Files are taken the way libtorrent's add_files()
takes them: hidden files included, symlinks followed (a symlink loop is an error), broken
symlinks skipped, the owner-execute bit recorded as attr x. Prints the v1 and v2 infohashes
and the magnet link.

Options:
  -o, --output <file>      the .torrent to write (atomically; refuses an existing file)
  --hybrid                 v1 + v2 in one torrent, with pad files (the default, as in libtorrent 2.0)
  --v2-only                BEP-52 only: file tree and piece layers, no v1 pieces
  --v1-only                BEP-3 only (files in the order the folder lists them, like libtorrent)
  --piece-length <n>       bytes, or with a K/M/G suffix: a power of two from 16 KiB to 1 GiB
                           (default: libtorrent's choice from the total size, 16 KiB .. 16 MiB)
  --name <name>            the torrent's name (default: the file or folder name)
  --comment <text>         a comment (outside the info dict: does not change the infohash)
  --private                BEP-27 private flag (changes the infohash)
  --force                  overwrite FILE if it exists
  --progress <mode>        auto (a live line on stderr when it is a terminal and the input is
                           at least ${formatBytes(PROGRESS_MIN_BYTES)}), tty, json (JSON lines on stderr), off
  --json                   print the result as one JSON object
  -h, --help

Exit codes: 0 written; 2 bad usage or input (missing or empty PATH, bad piece length, existing
FILE, unreadable file, symlink loop); 1 other errors (e.g. an unsafe file name); 130 interrupted.`,
  async run (argv, out) {
    const p = parse(argv, {
      output: { type: 'string', short: 'o' },
      hybrid: { type: 'boolean' },
      'v2-only': { type: 'boolean' },
      'v1-only': { type: 'boolean' },
      'piece-length': { type: 'string' },
      name: { type: 'string' },
      comment: { type: 'string' },
      private: { type: 'boolean' },
      force: { type: 'boolean' },
      progress: { type: 'string' },
      json: { type: 'boolean' },
    }, [], true)
    const v = p.values
    if (p.positionals.length === 0) throw new UsageError('give the file or folder to make a torrent of')
    if (p.positionals.length > 1) throw new UsageError(`one PATH only (got ${p.positionals.length}); put the files in one folder`)
    const input = p.positionals[0]
    const outPath = v.output as string | undefined
    if (outPath === undefined || outPath === '') throw new UsageError('give the .torrent to write with -o FILE')

    const modes: CreateMode[] = []
    if (v.hybrid === true) modes.push('hybrid')
    if (v['v2-only'] === true) modes.push('v2')
    if (v['v1-only'] === true) modes.push('v1')
    if (modes.length > 1) throw new UsageError('--hybrid, --v2-only and --v1-only exclude each other')
    const mode: CreateMode = modes[0] ?? 'hybrid'

    const pieceLength = v['piece-length'] === undefined ? undefined : parsePieceLength(v['piece-length'] as string)
    const name = v.name as string | undefined
    if (name !== undefined) {
      try {
        checkComponent(name, '--name')
        checkNameBytes(name, '--name')
      } catch (e) {
        throw new UsageError(errorMessage(e), { cause: e }) // a flag, not a file found on disk
      }
    }
    const comment = v.comment as string | undefined
    if (comment !== undefined && Buffer.byteLength(comment) > MAX_COMMENT_BYTES) throw new UsageError(`--comment is longer than ${MAX_COMMENT_BYTES} bytes`)
    const progressMode = (v.progress ?? 'auto') as ProgressMode
    if (!PROGRESS_MODES.includes(progressMode)) throw new UsageError(`--progress must be one of ${PROGRESS_MODES.join(', ')}`)
    const force = v.force === true

    const target = resolve(outPath)
    await checkOutput(target, force) // before hours of hashing, not after

    const ac = new AbortController()
    const stop = waitForStop() // first SIGINT/SIGTERM aborts the hashing; a second exits at once
    void stop.promise.then(() => ac.abort())
    const state = { hashed: 0, total: 0 }
    let progress: Progress<typeof state> | null = null
    const errOut: Output = { out: out.err, err: out.err, isTTY: process.stderr.isTTY === true }
    try {
      const created = await createTorrent(input, {
        mode,
        pieceLength,
        name,
        private: v.private === true,
        // libtorrent's add_files + v1_only keeps the folder's listing order; v2 and hybrid are sorted.
        fileOrder: mode === 'v1' ? 'input' : 'canonical',
        signal: ac.signal,
        onProgress: (hashed, total) => {
          state.hashed = hashed
          state.total = total
          if (progress === null && hashed === 0) {
            const m = progressMode === 'auto' ? (errOut.isTTY && total >= PROGRESS_MIN_BYTES ? 'tty' : 'off') : progressMode
            progress = new Progress(errOut, () => ({ ...state }), progressLine, { mode: m, intervalMs: PROGRESS_EVERY_MS, jsonIntervalMs: PROGRESS_EVERY_MS, ttyStream: process.stderr })
            progress.start()
          }
        },
      }).finally(() => { (progress as Progress<typeof state> | null)?.stop() })
      const torrent = encodeTorrentFile(created.rawInfo, { pieceLayers: created.pieceLayers, comment, createdBy: 'bbmesh' })
      await writeAtomically(target, torrent, force, ac.signal)

      const info = created.info
      const result = {
        output: target,
        name: info.name,
        mode,
        v1: info.infohashV1?.toString('hex') ?? null,
        v2: info.infohashV2?.toString('hex') ?? null,
        size: info.totalSize,
        files: info.files.length,
        pieceLength: info.pieceLength,
        private: info.private,
        torrentBytes: torrent.length,
        magnet: magnetLink(info),
      }
      if (v.json === true) {
        out.out(JSON.stringify(result))
      } else {
        out.out(`wrote ${result.output} (${mode}, ${result.files} file${result.files === 1 ? '' : 's'}, ${formatBytes(result.size)}, piece length ${formatBytes(result.pieceLength)})`)
        out.out(`name         ${result.name}`)
        out.out(`v1 infohash  ${result.v1 ?? '-'}`)
        out.out(`v2 infohash  ${result.v2 ?? '-'}`)
        out.out(`magnet       ${result.magnet}`)
      }
      return 0
    } catch (e) {
      if (ac.signal.aborted) {
        out.err(`bbmesh make-torrent: interrupted; nothing written to ${target}`)
        return EXIT_INTERRUPTED
      }
      throw e
    } finally {
      stop.dispose()
    }
  },
}
