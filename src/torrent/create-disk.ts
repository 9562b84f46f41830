// Find the files under a path the way libtorrent's add_files() does, and stream their
// bytes. libtorrent walks depth-first in the order the OS lists each directory (opendir/
// readdir, unsorted), follows symlinks, silently skips entries it cannot stat (a broken
// symlink), includes hidden files, and marks a file executable (attr 'x') when lstat()
// shows the owner-execute bit, which is always set on a symlink itself.

import { opendir, stat, lstat } from 'node:fs/promises'
import { createReadStream } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { AbortedError, LimitError, UsageError, errorMessage } from '../core/errors.js'
import { LIMITS } from '../core/limits.js'
import type { SourceFile } from './create-layout.js'

export interface DiskFile extends SourceFile {
  fullPath: string
}

export interface DiskInput {
  name: string
  files: DiskFile[]
}

const READ_CHUNK = 1024 * 1024

function errCode (e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined
}

/** List the files of a torrent rooted at `root` (a file gives a single-file torrent). */
export async function walkDisk (root: string, signal?: AbortSignal): Promise<DiskInput> {
  const abs = resolve(root)
  const name = basename(abs)
  let st
  try {
    st = await stat(abs)
  } catch (e) {
    throw new UsageError(`create: cannot read ${root}: ${errorMessage(e)}`, { cause: e })
  }
  if (st.isFile()) return { name, files: [{ path: [], fullPath: abs, size: st.size, executable: await isExecutable(abs) }] }
  if (!st.isDirectory()) throw new UsageError(`create: ${root} is neither a file nor a directory`)
  const files: DiskFile[] = []
  await walkDir(abs, [], files, new Map([[dirKey(await stat(abs, { bigint: true })), abs]]), signal)
  return { name, files }
}

/** A directory's identity (device and inode), to notice a symlink that leads back to an ancestor. */
function dirKey (st: { dev: bigint, ino: bigint }): string {
  return `${st.dev}:${st.ino}`
}

async function walkDir (dir: string, rel: string[], out: DiskFile[], ancestors: Map<string, string>, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted === true) throw new AbortedError('create: aborted')
  if (rel.length >= LIMITS.torrentMaxPathDepth) throw new LimitError(`create: ${dir} is nested deeper than ${LIMITS.torrentMaxPathDepth}`)
  let d
  try {
    d = await opendir(dir) // readdir order, unsorted, like libtorrent (Node's readdir() would sort)
  } catch (e) {
    throw new UsageError(`create: cannot read folder ${dir}: ${errorMessage(e)}`, { cause: e })
  }
  for await (const ent of d) {
    const full = join(dir, ent.name)
    const path = [...rel, ent.name]
    let st
    try {
      st = await stat(full, { bigint: true })
    } catch (e) {
      const code = errCode(e)
      if (code === 'ENOENT' || code === 'ELOOP') continue // broken or self-looping symlink: libtorrent skips it
      throw new UsageError(`create: cannot read ${full}: ${errorMessage(e)}`, { cause: e })
    }
    if (st.isDirectory()) {
      // A symlink to one of its own ancestors would make the walk endless (libtorrent would
      // recurse until the path is too long): refuse it by name.
      const k = dirKey(st)
      const loop = ancestors.get(k)
      if (loop !== undefined) throw new UsageError(`create: symlink loop: ${full} leads back to ${loop}`)
      ancestors.set(k, full)
      await walkDir(full, path, out, ancestors, signal)
      ancestors.delete(k)
    } else if (st.isFile()) {
      if (out.length >= LIMITS.torrentMaxFiles) throw new LimitError(`create: more than ${LIMITS.torrentMaxFiles} files`)
      out.push({ path, fullPath: full, size: Number(st.size), executable: await isExecutable(full) })
    } else {
      throw new UsageError(`create: ${full} is not a regular file`)
    }
  }
}

async function isExecutable (p: string): Promise<boolean> {
  return ((await lstat(p)).mode & 0o100) !== 0
}

/** Stream one file's bytes, checking it still has the size it had when listed. */
export async function * readDiskFile (f: DiskFile, signal?: AbortSignal): AsyncGenerator<Buffer> {
  let n = 0
  const stream = createReadStream(f.fullPath, { highWaterMark: READ_CHUNK, signal })
  try {
    for await (const chunk of stream) {
      n += (chunk as Buffer).length
      if (n > f.size) break
      yield chunk as Buffer
    }
  } catch (e) {
    if (signal?.aborted === true) throw new AbortedError('create: aborted', { cause: e })
    throw new UsageError(`create: cannot read ${f.fullPath}: ${errorMessage(e)}`, { cause: e })
  } finally {
    stream.destroy()
  }
  if (n !== f.size) throw new UsageError(`create: ${f.fullPath} changed size while hashing`)
}
