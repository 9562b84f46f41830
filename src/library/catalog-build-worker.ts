// The worker thread of buildCatalogInWorker / buildCatalogToDiskInWorker (catalog-builder.ts):
// opens the store read-only, builds the catalog exactly as the publisher does on its own thread
// (in memory), or streams it to the shard directory (outDir: catalog-stream.ts), posts the
// result (in-memory: buffers transferred; to disk: metadata only) or the error, flattened, and
// ends. Nothing else runs here.

import { parentPort, workerData } from 'node:worker_threads'
import { openStore } from '../store/index.js'
import { buildCatalog, recordsFromStore } from './catalog.js'
import { buildCatalogToDisk } from './catalog-stream.js'
import {
  catalogSourceFilter, catalogToWire, diskCatalogToWire, errorToWire, indexFromWire, transferList,
  type WorkerBuildRequest, type WorkerReply,
} from './catalog-builder.js'

function build (req: WorkerBuildRequest): { reply: WorkerReply, transfer: ArrayBuffer[] } {
  try {
    const store = openStore(req.dbPath, { readonly: true })
    try {
      const opts = {
        // The index crossed as plain Uint8Arrays: Buffers again, as buildCatalog expects.
        ...(req.previous !== undefined ? { previous: indexFromWire(req.previous) } : {}),
        ...(req.maxBytes !== undefined ? { maxBytes: req.maxBytes } : {}),
      }
      if (req.outDir !== undefined) {
        const disk = buildCatalogToDisk(store, req.outDir, { ...opts, includeCatalogs: req.includeCatalogs })
        return { reply: { ok: true, disk: diskCatalogToWire(disk) }, transfer: [] }
      }
      const cat = buildCatalog(recordsFromStore(store, { filter: catalogSourceFilter(req.includeCatalogs) }), opts)
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
