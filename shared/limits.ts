/**
 * Every bound in mtlog-audit, in one place, with its unit in its name.
 *
 * Each tunable bound has a default and a hard range; lib/sink/options.ts validates
 * user options against these ranges and names the option that is out of range.
 * The relations between bounds (an event must fit in a batch, a batch in a
 * segment, an event in half the ring) are asserted in options validation and,
 * for the defaults, at module load below.
 */

export interface Bound {
  readonly default: number
  readonly min: number
  readonly max: number
}

export const LIMITS = {
  /** Bytes of the shared ring between producers and the writer (power of two). */
  ringBytes: { default: 8 * 1024 * 1024, min: 64 * 1024, max: 1024 * 1024 * 1024 },
  /** Largest serialized event (UTF-8 JSON payload) accepted by emit(). */
  eventBytesMax: { default: 256 * 1024, min: 256, max: 64 * 1024 * 1024 },
  /** Largest framed batch the writer writes with one write + one fdatasync. */
  batchBytesMax: { default: 4 * 1024 * 1024, min: 4 * 1024, max: 256 * 1024 * 1024 },
  /** A segment is rotated before a batch would take it past this size. */
  // At most 1 GiB: rotation is cheap, and offsets stay well inside what every reader handles. Readers
  // never hold a segment: they read it through a window of FIXED.segmentWindowBytes (shared/bytes.ts).
  segmentBytesMax: { default: 64 * 1024 * 1024, min: 64 * 1024, max: 1024 * 1024 * 1024 },
  /** Sign a checkpoint after this many new records (or checkpointEveryMs, whichever comes first). */
  checkpointEveryRecords: { default: 10_000, min: 1, max: 1_000_000_000 },
  /** Sign a checkpoint this long after the last one when anything new is durable. */
  checkpointEveryMs: { default: 1_000, min: 10, max: 24 * 60 * 60 * 1000 },
  /** Emits of one producer that may wait for ring space before emit() rejects with ERR_AUDIT_QUEUE_FULL. */
  pendingEmitsMax: { default: 65_536, min: 1, max: 16_777_216 },
} as const satisfies Record<string, Bound>

/** Fixed bounds (not options). */
export const FIXED = {
  /** Deepest nesting of properties in an event. */
  eventDepthMax: 64,
  /**
   * Most own enumerable keys of one object in an event's properties; more is
   * ERR_AUDIT_EVENT_TOO_LARGE. (The whole event is bounded by eventBytesMax,
   * counted while it is read, so this only names the refusal of a huge object.)
   */
  eventKeysPerObjectMax: 100_000,
  /**
   * Largest |timestamp| in ms since the epoch: the range of a JavaScript Date
   * (±100,000,000 days), which the i64 header field holds with room to spare.
   */
  timestampMsMax: 8.64e15,
  /** Longest timestamp string parsed (the longest ISO 8601 form is 30 characters). */
  timestampCharsMax: 64,
  /** Characters of caller data an error message shows (shared/errors.ts preview). */
  previewCharsMax: 64,
  /** Longer strings are previewed by their length alone (reading a character would flatten a concatenated one). */
  previewScanCharsMax: 64 * 1024,
  /** Characters of a value's path (properties.a[0].b) an error shows; the rest is cut. */
  errorPathCharsMax: 128,
  /** Read-side arguments (lib/read/args.ts): the longest level filter ('>= Information' and room). */
  filterLevelCharsMax: 32,
  /** … most where conditions in one filter. */
  filterConditionsMax: 1024,
  /** … longest export format name (the names are short words). */
  formatNameCharsMax: 16,
  /** Longest directory or file path accepted as an argument or option (Linux PATH_MAX); a longer one can never be opened. */
  pathCharsMax: 4096,
  /** How long the idle writer sleeps before it looks at the control words again. */
  writerIdleWaitMs: 50,
  /**
   * A producer thread waiting for the durable cursor or for ring space looks at
   * the sink's state again after this long, even if nothing woke it: a failure
   * or close recorded just before it began to wait changes neither word it
   * waits on (found by the DiskFull campaign: an emit that never settled).
   */
  producerRecheckMs: 50,
  /** How long close() lets the writer take to drain and exit before it is terminated. */
  closeTimeoutMs: 30_000,
  /** How long open() waits for the writer to lock and recover the directory. */
  openTimeoutMs: 120_000,
  /** Bytes of the failure message area in the shared control block. */
  failureBytesMax: 4096,
  /** How long the writer waits for a reserved ring record to be published during close. */
  publishWaitMs: 10_000,
  /**
   * Batches of at least this many records are fdatasync'ed on libuv's pool while
   * the writer seals the next batch; smaller ones are synced on the writer's own
   * thread, which answers sooner (no thread hand-off) when there is little to seal.
   */
  asyncSyncMinRecords: 128,
  /**
   * Zero-ahead: after a batch of at most zeroAheadBatchBytesMax bytes that
   * reaches past the zero-filled end of the active segment, the appender writes
   * this many zero bytes after it, synced with that batch. The batches that
   * follow overwrite those zeros without changing the file's size, so their
   * fdatasync commits no metadata (on ext4 here about half the time of an
   * fdatasync that grows the file; docs/operations.md has the measurement).
   * The batch that carries the zeros pays for writing them: 256 KiB keeps that
   * to a fraction of a millisecond on this disk.
   */
  zeroAheadBytes: 256 * 1024,
  /**
   * Larger batches grow the file directly: fewer than four of them would fit
   * in the zeros, too few to pay back writing every byte twice.
   */
  zeroAheadBatchBytesMax: 64 * 1024,
  /**
   * Bytes of the window through which readers, open-time resume and recovery
   * read a segment (shared/bytes.ts): one positioned read each, refilled as
   * the walk moves on. Memory for a segment is this window, or one record
   * when a record is larger (at most RECORD_HEADER_BYTES +
   * LIMITS.eventBytesMax.max), never the segment. 4 MiB: reads this large
   * cost no more per byte than one whole-file read (docs/operations.md,
   * "Reading a segment").
   */
  segmentWindowBytes: 4 * 1024 * 1024,
  /**
   * Damage in the last segment's tail is looked at again by a fresh walk
   * after this pause (lib/read/reader.ts, openChecked): a read that raced the
   * live writer's write() sees bytes that were never on disk together, and
   * by then that write() has finished. A write of one batch (at most
   * batchBytesMax, a few MiB) copies in well under a millisecond here; 50 ms
   * covers a scheduler hiccup of the shared VM without making a real damage
   * report (read twice) noticeably slower.
   */
  tailRecheckPauseMs: 50,
  /**
   * Walks of the last segment at most when each finds different damage (a
   * writer appending throughout): the last one's finding stands. 4 walks of
   * a 1 GiB segment take about 20 s at verify's single-thread speed.
   */
  tailRecheckWalksMax: 4,
  /**
   * Records (candidates) salvage reads ahead of its merge in one copy of a
   * segment, at most, to find the records of a later seq when it must judge
   * rivals for one seq by the chain around them (lib/read/salvage.ts, pick).
   * In a log as written the next seq is the next record, so this is reached
   * only by records whose seq range skips far ahead of the file order; past it,
   * the evidence "a later record links to this one" is not looked for further.
   * 4,096 records of metadata: about 1 MiB per copy.
   */
  salvageLookaheadRecords: 4096,
  /**
   * Records per segment salvage holds aside, at most, because their seq does
   * not fit the file order (a seq edited with its CRC recomputed, a batch
   * written again, records moved): they are merged at their seq from this side
   * table (lib/read/salvage.ts). The ones past it, in file order, are not
   * merged: each is reported as a skipped record (reason `out-of-place`), so
   * its seq is lost unless the other copy holds it. About 300 bytes of heap
   * each: at most ~5 MiB per segment.
   */
  salvageOutOfOrderRecords: 16_384,
  /**
   * Largest LOCK file read (shared/lock.ts): a body is ~150 bytes of JSON. A larger
   * file is not one this version wrote, so it is judged malformed without being read.
   */
  lockFileBytesMax: 4096,
  /** Scans of the LOCK files one acquire makes before it gives up with ERR_AUDIT_LOCKED (each lost race is one). */
  lockAttemptsMax: 16,
  /** Highest lock generation (LOCK.<n>) taken; a directory past it needs its stale LOCK files removed by hand. */
  lockGenerationMax: 999_999_999_999_999,
  /**
   * Test seam of shared/lock.ts (MTLOG_AUDIT_TEST_LOCK_GATE): how long a writer
   * waits at the gate after judging a lock stale before it goes on by itself,
   * and how often it looks at the gate meanwhile.
   */
  lockGateWaitMs: 60_000,
  lockGatePollMs: 5,
  /**
   * Message templates whose JSON encoding each emitting thread keeps (templates
   * are a small fixed set in a well-behaved app; the cache is emptied when full).
   */
  templateCacheEntries: 256,
  /** Longer templates are encoded on every emit, never cached. */
  templateCacheCharsMax: 512,
  /** Property keys whose JSON each emitting thread keeps (emptied when full), and the longest cached. */
  keyCacheEntries: 1024,
  keyCacheCharsMax: 64,
  /**
   * A string value of at least this many UTF-16 units that needs no escape is kept whole: not
   * passed through JSON.stringify (which rebuilds a long string from parts) nor joined to the
   * rest of the event's JSON; the ring writes it as a part of its own (lib/sink/snapshot.ts,
   * keptWhole).
   */
  jsonQuoteCharsMin: 4096,
  /** Leaves up to this size are copied behind their 0x00 prefix into one scratch buffer and hashed in one call. */
  merkleScratchBytes: 64 * 1024,
  /** Most hashes in an inclusion or consistency proof we parse: a tree of 2^53 leaves needs 53 (RFC 9162). */
  proofHashesMax: 64,
  /**
   * Largest leaf (a record's content as stored) in a proof bundle: the largest event the
   * options allow (LIMITS.eventBytesMax.max) plus room for the record's own fields.
   */
  proofBundleLeafBytesMax: 64 * 1024 * 1024 + 64 * 1024,
  /** Largest proof bundle read: the base64 of the largest leaf, a full signed note and 64 hashes fit. */
  proofBundleBytesMax: 96 * 1024 * 1024,
  /**
   * Largest signed note (text + signature lines) read or written. C2SP signed-note
   * asks verifiers to accept at least 16 signatures, post-quantum ones up to ~5 kB
   * each: 16 × ~6.7 kB of base64 fits with room to spare.
   */
  noteBytesMax: 256 * 1024,
  /** Witnesses one sink sends its checkpoints to, at most. */
  witnessesMax: 16,
  /** How often the sink looks whether a checkpoint is due (at most; everyMs when smaller). */
  checkpointPollMs: 50,
  /**
   * Durable records not yet in the tree that make the sink fold them in
   * between checkpoints (lib/sink/checkpointer.ts: a task that only extends
   * the tree), so a checkpoint's hashing runs as small tasks (~1 ms of the
   * signer's CPU each) rather than one burst per checkpoint. Not with
   * witnesses (a checkpoint's consistency proof wants its new leaves).
   */
  signerFoldRecords: 1024,
  /**
   * The signer thread's nice value (Linux: a thread's own priority). Signing is
   * background work: on a busy host the app thread and the writer go first, and
   * a signer that falls behind only makes the next checkpoint cover more.
   */
  signerThreadNice: 10,
  /** The signer reads durable records in windows of this size (grown only for one larger record). */
  signerReadWindowBytes: 256 * 1024,
  /**
   * Slots of the leaf ring (shared/leaf-ring.ts): leaf hashes the writer hands
   * the signer, 56 bytes each (7 MiB, only when signing is on). The signer finds
   * a record there while it is fewer than this many seqs behind the writer
   * (at 200,000 records/s, 0.65 s); older ones it reads from disk.
   */
  leafRingSlots: 131_072,
  /** Most signature lines in one note (the Go reference refuses more than 100). */
  noteSignaturesMax: 100,
  /** Longest key name (a schema-less URL in practice) in UTF-8 bytes. */
  keyNameBytesMax: 256,
  /** Most extension lines after the root hash of a checkpoint body. */
  checkpointExtensionLinesMax: 16,
  /** Largest key file loadSigner / loadVerifier read: a key line is ~100 bytes. */
  keyFileBytesMax: 4096,
  /** Consistency proof lines in one add-checkpoint request (C2SP tlog-witness: at most 63). */
  witnessProofLinesMax: 63,
  /** Largest add-checkpoint request body: the old line, 63 proof lines and a note. */
  witnessBodyBytesMax: 256 * 1024 + 64 * 64,
  /** How long the witness server and client give one add-checkpoint request, end to end. */
  witnessRequestTimeoutMs: 10_000,
  /** Largest answer the witness client reads (cosignature lines or an error text). */
  witnessAnswerBytesMax: 64 * 1024,
  /** Largest keyring file read or written (lib/crypto/): a subject entry takes ~290 bytes of JSON. */
  keyringBytesMax: 64 * 1024 * 1024,
  /**
   * Most entries (live keys + erasure marks) in one keyring: ~58 MB of JSON if all
   * were live subject keys, within keyringBytesMax.
   */
  keyringEntriesMax: 200_000,
  /** Largest wrapped key a provider may return (a KMS ciphertext blob is a few hundred bytes). */
  wrappedKeyBytesMax: 4096,
  /** Longest key-provider id (e.g. a KMS key ARN with a prefix). */
  providerIdCharsMax: 256,
  /**
   * Largest plaintext sealed as one frame. AES-GCM allows 2^32 − 2 blocks (64 GiB) per
   * (key, IV); a frame is one writer batch, and batchBytesMax allows at most 256 MiB.
   */
  frameBytesMax: 256 * 1024 * 1024,
  /**
   * Events the writer gathers before it seals them as a frame while the previous
   * batch's fdatasync runs (the rest of a batch is sealed at its flush): one
   * cipher call costs ~5 µs, a 256-B event ~0.3 µs, so 32 keep the set-up below
   * 0.2 µs per event.
   */
  frameRecordsMin: 32,
  /** Most records in one frame (its AAD holds 12 bytes per record). */
  frameRecordsMax: 1 << 20,
  /** Longest log id bound into a frame's or a field box's AAD. */
  logIdBytesMax: 256,
  /** Longest subject id (the personalData subject property's value) turned into a pseudonym. */
  subjectIdCharsMax: 1024,
  /**
   * Random bytes fetched at once for the random 96-bit IVs of personal-data fields: one
   * randomFillSync call costs ~7 µs here whatever its size, as much as the AES-GCM call
   * it serves. 12 KiB = 1024 IVs per call.
   */
  randomIvPoolBytes: 12 * 1024,
  /** Subject keys a sink keeps unwrapped in memory (personalData); past it the cache starts over. */
  subjectKeyCacheEntries: 10_000,
  /** Longest `by` or `legalBasis` text stored in an erasure tombstone. */
  tombstoneTextCharsMax: 1024,
} as const

/** Bounds of sink.health() and of the integrations (lib/adapters/). */
export const INTEGRATION = {
  /** health(): emits pending this long with none of them made durable → warn. */
  healthStallWarnMs: 1_000,
  /** health(): … this long → fail (readiness fails; liveness does not: a restart would not make a disk faster). */
  healthStallFailMs: 30_000,
  /** health(): ring bytes reserved and not yet taken by the writer, as a fraction of ringBytes, → warn. */
  healthRingWarnRatio: 0.8,
  /** Health helpers: replication lag (when a replication source is given) → warn / fail. */
  healthReplicationWarnS: 60,
  healthReplicationFailS: 900,
  /** gracefulShutdown(): default bound for stop taking + flush + close, before destroy (k8s grace is 30 s). */
  shutdownTimeoutMs: 20_000,
  /** HTTP audit: longest request path, User-Agent and request id stored; longer values are cut. */
  httpPathCharsMax: 2048,
  httpUserAgentCharsMax: 512,
  httpRequestIdCharsMax: 128,
  /** winston AuditTransport highWaterMark: infos buffered while one batch syncs (one fdatasync covers them). */
  winstonHighWaterMark: 1024,
  /** pino transport: emits of its worker pending before write() makes thread-stream wait for 'drain'. */
  transportPendingMax: 16_384,
} as const

function assertDefaults(): void {
  const ring = LIMITS.ringBytes.default
  if ((ring & (ring - 1)) !== 0) throw new Error('limits: ringBytes default must be a power of two')
  if (LIMITS.eventBytesMax.default + 64 > ring / 2) throw new Error('limits: an event must fit in half the ring')
  if (LIMITS.eventBytesMax.default + 64 > LIMITS.batchBytesMax.default)
    throw new Error('limits: an event must fit in a batch')
  // shared/ring/layout.ts keeps a record's length in the low 27 bits of its length word.
  if (LIMITS.eventBytesMax.max >= 2 ** 27) throw new Error('limits: an event length must fit in 27 bits')
  if (LIMITS.batchBytesMax.default + 128 > LIMITS.segmentBytesMax.default)
    throw new Error('limits: a batch must fit in a segment')
  if (FIXED.proofBundleLeafBytesMax < LIMITS.eventBytesMax.max + 1024)
    throw new Error('limits: a proof bundle must hold the largest event')
  if (
    Math.ceil((FIXED.proofBundleLeafBytesMax + 1024) / 3) * 4 + FIXED.noteBytesMax + 64 * 45 >
    FIXED.proofBundleBytesMax
  )
    throw new Error('limits: a proof bundle must hold its largest leaf and note')
}
assertDefaults()
