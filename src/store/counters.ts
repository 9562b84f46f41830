// Row counts kept beside the rows. COUNT(*) walks a whole table: ~400 ms at 1M torrents here,
// and infohashes_seen grows to tens of millions, so stats() reads these instead. Each
// writer adds its deltas in the same transaction as the rows it changed, once per batch.
// recount() recomputes them from the tables (maintenance, and the tests' check that the
// bookkeeping is right).

import { sqlite, type StoreDb } from './database.js'
import { COUNTER_NAMES, type CounterName } from './migrations.js'

export type CounterDeltas = Partial<Record<CounterName, number>>
export type CounterValues = Record<CounterName, number>

export class Counters {
  readonly #db: StoreDb

  constructor (db: StoreDb) {
    this.#db = db
  }

  /** Add deltas; call inside the write transaction that changed the rows. */
  add (d: CounterDeltas): void {
    const st = this.#db.prepare('UPDATE counters SET value = value + ? WHERE name = ?')
    for (const name of COUNTER_NAMES) {
      const v = d[name]
      if (v !== undefined && v !== 0) st.run(v, name)
    }
  }

  get (): CounterValues {
    const rows = sqlite('reading store counters', () => this.#db.prepare('SELECT name, value FROM counters').all()) as Array<{ name: string, value: number }>
    const out = Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0])) as CounterValues
    for (const r of rows) if ((COUNTER_NAMES as readonly string[]).includes(r.name)) out[r.name as CounterName] = r.value
    return out
  }

  /** What the counters should hold, counted from the tables (slow: full scans). */
  count (): CounterValues {
    const one = (sql: string): number => this.#db.prepare(sql).pluck().get() as number
    return {
      torrents_v1: one('SELECT count(*) FROM torrents WHERE version = 1'),
      torrents_v2: one('SELECT count(*) FROM torrents WHERE version = 2'),
      torrents_hybrid: one('SELECT count(*) FROM torrents WHERE version = 3'),
      seen: one('SELECT count(*) FROM infohashes_seen'),
      queue_active: one('SELECT count(*) FROM fetch_queue WHERE state IN (0, 1)'),
      queue_failed: one('SELECT count(*) FROM fetch_queue WHERE state = 2'),
    }
  }

  /** Reset every counter from the tables, in one write transaction. */
  recount (): CounterValues {
    return this.#db.write('recounting store counters', () => {
      const v = this.count()
      const st = this.#db.prepare('UPDATE counters SET value = ? WHERE name = ?')
      for (const n of COUNTER_NAMES) st.run(v[n], n)
      return v
    })
  }
}
