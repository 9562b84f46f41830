// Every cap, rate and timeout of bbmesh in one place, each with the reason for its value.
// Config may lower or raise the soft ones (documented in docs/config.md); the hard protocol
// caps here are not configurable.

export const LIMITS = Object.freeze({
  // ---- KRPC (BEP-5) ----
  /** Largest UDP datagram we decode. Real KRPC fits in one MTU; 8 KiB leaves room for BEP-44 puts. */
  krpcMaxPacket: 8192,
  /** Bencode nesting in KRPC: real messages nest 3 deep (a dict in a dict in a list). */
  krpcMaxDepth: 8,
  /** Bencode values in one KRPC packet. */
  krpcMaxItems: 512,
  /** Transaction ids longer than this are refused (libtorrent uses 2-4 bytes). */
  krpcMaxTid: 32,
  /** Tokens from remote nodes (libtorrent: 4 bytes; we allow some slack). */
  krpcMaxToken: 64,
  /** BEP-44 value cap. */
  bep44MaxValue: 1000,
  /** BEP-44 salt cap. */
  bep44MaxSalt: 64,
  /** BEP-51: libtorrent answers at most 20 samples; we accept up to what fits a packet. */
  bep51MaxSamplesIn: 400,
  /** BEP-51: samples we put in one answer (20 like libtorrent keeps the packet under an MTU). */
  bep51SamplesOut: 20,
  /** BEP-51 interval we advertise, seconds (libtorrent default 21600; a harvester network wants fresher). */
  bep51Interval: 300,
  /** Bounds on an `interval` we honour from a remote: 0..6 h (BEP-51 says at most 21600). */
  bep51MaxInterval: 21600,
  /** Peers we return for one get_peers (BEP-5 leaves it open; libtorrent caps near 100). */
  getPeersMaxValues: 50,

  // ---- peer wire (BEP-3/9/10) ----
  /** Largest peer-wire frame we buffer (16 KiB block + header, or a BEP-9 piece + dict). */
  wireMaxFrame: 64 * 1024,
  /** Largest BEP-10 extended handshake dict. */
  extHandshakeMax: 16 * 1024,
  /** Largest info dict we fetch (BEP-9 metadata_size). libtorrent's default is 30 MiB; real ones rarely pass 10 MiB. */
  metadataMaxSize: 16 * 1024 * 1024,
  /** BEP-9 piece size. */
  metadataPiece: 16 * 1024,

  // ---- torrents ----
  /** Files per torrent we index (a hostile info dict may list millions). */
  torrentMaxFiles: 100_000,
  /** Path components per file. */
  torrentMaxPathDepth: 64,
  /** Bytes of one path or name, after decoding. */
  torrentMaxNameBytes: 4096,

  // ---- search ----
  searchMaxQueryBytes: 512,
  searchMaxTerms: 16,
  searchMaxLimit: 500,

  // ---- HTTP API (src/http/server.ts, docs/http.md) ----
  /** Longest request target (path + query): a search URL is a few hundred bytes. Longer: 414. */
  httpMaxUrl: 4096,
  /** Whole request head (Node's maxHeaderSize); longer: 431 before any parsing of ours. */
  httpMaxHeader: 16 * 1024,
  /** Open connections in all, and from one address (keep-alive sockets count). */
  httpMaxConnections: 64,
  httpMaxConnectionsPerIp: 16,
  /** Requests per second per client address (token bucket), and the burst; 429 beyond. */
  httpRate: 20,
  httpBurst: 40,
  /** Tokens a network search costs: it fans out to every member. */
  httpNetworkCost: 5,
  /** Client addresses whose buckets are remembered (LRU). */
  httpMaxClients: 4096,
  /** Network searches in flight at once; more: 503. */
  httpMaxNetworkInFlight: 4,
  /** Deadline of a network search: default and the most a client may ask (`timeout_ms`). */
  httpNetworkTimeoutMs: 3000,
  httpNetworkTimeoutMaxMs: 20_000,
  /** Time to receive the request head / the whole request; idle keep-alive sockets close after. */
  httpHeadersTimeoutMs: 10_000,
  httpRequestTimeoutMs: 15_000,
  httpKeepAliveTimeoutMs: 5000,

  // ---- files ----
  /** A .torrent file we import. */
  torrentFileMax: 64 * 1024 * 1024,
  /** One JSON line in an import. */
  jsonLineMax: 64 * 1024 * 1024,
  /** The publisher key file (about 500 bytes when encrypted); anything larger is not ours and is not read. */
  publisherKeyFileMax: 64 * 1024,
  /** A passphrase, in UTF-8 bytes, and a --passphrase-file read for it. */
  passphraseMax: 1024,
  passphraseFileMax: 64 * 1024,
  /** The pointer seq file (pointers.json; about 150 bytes per publisher key and salt). */
  pointerStoreFileMax: 1024 * 1024,

  // ---- catalog (src/library/catalog*.ts, docs/library.md "Catalog") ----
  /** One record in a shard: a full-size info dict (metadataMaxSize) plus its file list and hashes. */
  catalogRecordMax: 2 * 16 * 1024 * 1024,
  /** One shard file (its records are read into memory to be checked). */
  catalogShardMax: 256 * 1024 * 1024,
  /** Records in one shard. */
  catalogShardMaxRecords: 1_000_000,
  /** Prefix bits of the shard split: at most 2^16 shards. */
  catalogMaxBits: 16,
  /** The index file: 2^16 entries of about 110 bytes fit in 8 MiB. */
  catalogIndexMax: 8 * 1024 * 1024,
  /** A whole catalog (shards + index), built or fetched: about a million torrents of real size. */
  catalogMaxBytes: 4 * 1024 * 1024 * 1024,
})

export type Limits = typeof LIMITS
