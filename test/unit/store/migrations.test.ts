import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import BetterSqlite3 from 'better-sqlite3'
import { open } from '../../../src/store/database.js'
import { openStore } from '../../../src/store/index.js'
import { migrate, checkSchema, MIGRATIONS, SCHEMA_VERSION, APPLICATION_ID, type Migration } from '../../../src/store/migrations.js'
import { StoreError } from '../../../src/core/errors.js'
import { tempStore } from './fixtures.js'

function schemaOf (path: string): string {
  const db = new BetterSqlite3(path, { readonly: true })
  try {
    return JSON.stringify(db.prepare('SELECT type, name, sql FROM sqlite_schema ORDER BY name').all())
  } finally { db.close() }
}

test('a new store is created at the newest schema, in WAL mode, marked as ours', (t) => {
  const s = tempStore(); t.after(s.cleanup)
  const db = open(s.path)
  assert.equal(db.raw.pragma('user_version', { simple: true }), SCHEMA_VERSION)
  assert.equal(db.raw.pragma('application_id', { simple: true }), APPLICATION_ID)
  assert.equal(db.raw.pragma('journal_mode', { simple: true }), 'wal')
  assert.equal(db.raw.pragma('foreign_keys', { simple: true }), 1)
  assert.equal(db.raw.pragma('synchronous', { simple: true }), 1) // NORMAL
  assert.ok((db.raw.pragma('busy_timeout', { simple: true }) as number) > 0)
  db.close()
})

test('migrating twice is a no-op', (t) => {
  const s = tempStore(); t.after(s.cleanup)
  open(s.path).close()
  const before = schemaOf(s.path)
  const db = open(s.path) // second open runs migrate() again
  assert.deepEqual(migrate(db.raw, s.path), { from: SCHEMA_VERSION, to: SCHEMA_VERSION })
  db.close()
  assert.equal(schemaOf(s.path), before)
})

test('a database from a newer version is refused, read-write and read-only', (t) => {
  const s = tempStore(); t.after(s.cleanup)
  open(s.path).close()
  const raw = new BetterSqlite3(s.path)
  raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`)
  raw.close()
  assert.throws(() => open(s.path), (e: unknown) => e instanceof StoreError && /newer than this bbmesh/.test(e.message))
  assert.throws(() => open(s.path, { readonly: true }), (e: unknown) => e instanceof StoreError && /newer/.test(e.message))
  assert.throws(() => openStore(s.path), StoreError)
})

test('a read-only open runs no migration and says why it cannot open', (t) => {
  const s = tempStore(); t.after(s.cleanup)
  assert.throws(() => open(s.path, { readonly: true }), (e: unknown) => e instanceof StoreError && /no store at/.test(e.message))
  new BetterSqlite3(s.path).close() // an empty SQLite file
  assert.throws(() => open(s.path, { readonly: true }), (e: unknown) => e instanceof StoreError && /no bbmesh store yet/.test(e.message))
  const raw = new BetterSqlite3(s.path)
  assert.equal(raw.pragma('user_version', { simple: true }), 0)
  raw.close()
})

test('a read-only open of an older schema asks for a read-write open', (t) => {
  const s = tempStore(); t.after(s.cleanup)
  open(s.path).close()
  const raw = new BetterSqlite3(s.path, { readonly: true })
  t.after(() => raw.close())
  // As a build that knows one more migration than the file has would see it:
  assert.throws(() => checkSchema(raw, s.path, SCHEMA_VERSION + 1),
    (e: unknown) => e instanceof StoreError && /older than this bbmesh.*read-write to migrate/.test(e.message))
  assert.doesNotThrow(() => checkSchema(raw, s.path))
})

test('each migration is one transaction: a failing step leaves the previous version', (t) => {
  const s = tempStore(); t.after(s.cleanup)
  const raw = new BetterSqlite3(s.path)
  const broken: Migration = { version: SCHEMA_VERSION + 1, name: 'broken', up: (db) => { db.exec('CREATE TABLE half (x)'); throw new Error('boom') } }
  assert.throws(() => migrate(raw, s.path, [...MIGRATIONS, broken]), /boom/)
  assert.equal(raw.pragma('user_version', { simple: true }), SCHEMA_VERSION)
  assert.equal(raw.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'half'").pluck().get(), 0)
  raw.close()
})

test('a file of garbage bytes is a clear StoreError, read-write and read-only', (t) => {
  const s = tempStore(); t.after(s.cleanup)
  writeFileSync(s.path, randomBytes(8192))
  assert.throws(() => open(s.path), (e: unknown) => e instanceof StoreError && e.message.includes(s.path) && /not a database/.test(e.message))
  assert.throws(() => open(s.path, { readonly: true }), StoreError)
  assert.throws(() => openStore(s.path), StoreError)
})

test('a short garbage file and a text file are refused too', (t) => {
  const s = tempStore(); t.after(s.cleanup)
  writeFileSync(s.path, 'hello, I am not a database\n')
  assert.throws(() => open(s.path), StoreError)
})

test("another program's SQLite database is not migrated", (t) => {
  const s = tempStore(); t.after(s.cleanup)
  const raw = new BetterSqlite3(s.path)
  raw.exec('CREATE TABLE theirs (x)')
  raw.close()
  assert.throws(() => open(s.path), (e: unknown) => e instanceof StoreError && /another program/.test(e.message))
  const raw2 = new BetterSqlite3(s.path)
  raw2.pragma('application_id = 1234')
  raw2.close()
  assert.throws(() => open(s.path), /not a bbmesh store/)
})

test('close() is idempotent and a closed store refuses work with a StoreError', (t) => {
  const s = tempStore(); t.after(s.cleanup)
  const store = openStore(s.path)
  store.close()
  store.close()
  assert.throws(() => store.stats(), StoreError)
})
