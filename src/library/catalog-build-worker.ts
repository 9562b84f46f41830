// The worker thread of buildCatalogInWorker (catalog-builder.ts): opens the store read-only,
// builds the catalog exactly as the publisher does on its own thread, posts the result with
// its buffers transferred (or the error, flattened), and ends. Nothing else runs here.

import { parentPort, workerData } from 'node:worker_threads'
import { openStore } from '../store/index.js'
import { buildCatalog, recordsFromStore } from './catalog.js'
import {
  catalogSourceFilter, catalogToWire, errorToWire, indexFromWire, transferList,
  type WorkerBuildRequest, type WorkerReply,
} from './catalog-builder.js'

function build (req: WorkerBuildRequest): { reply: WorkerReply, transfer: ArrayBuffer[] } {
  try {
    const store = openStore(req.dbPath, { readonly: true })
    try {
      const cat = buildCatalog(recordsFromStore(store, { filter: catalogSourceFilter(req.includeCatalogs) }), {
        // The index crossed as plain Uint8Arrays: Buffers again, as buildCatalog expects.
        ...(req.previous !== undefined ? { previous: indexFromWire(req.previous) } : {}),
        ...(req.maxBytes !== undefined ? { maxBytes: req.maxBytes } : {}),
      })
      return { reply: { ok: true, catalog: catalogToWire(cat) }, transfer: transferList(cat) }
    } finally {
      store.close()
    }
  } catch (err) {
    return { reply: { ok: false, error: errorToWire(err) }, transfer: [] }
  }
}

if (parentPort === null) throw new Error('catalog-build-worker.js runs as a worker thread (catalog-builder.ts)')
const { reply, transfer } = build(workerData as WorkerBuildRequest)
parentPort.postMessage(reply, transfer)
