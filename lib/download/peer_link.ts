// Shell: one downloader-side connection to a seeder: accepts only the key its session
// registered, answers its challenge with our proof, then turns its messages into events for the
// engine, putting each piece together from its parts.
import type { Socket } from "bun";
import { ProtocolError } from "../errors.ts";
import type { TlsIdentity } from "../identity/key_file.ts";
import { peerProof } from "../peer/auth.ts";
import { Bitfield } from "../pieces/bitfield.ts";
import { pieceLength } from "../pieces/constants.ts";
import { BufferPool } from "../wire/buffer_pool.ts";
import { PART_FRAME_OVERHEAD_BYTES } from "../wire/codec.ts";
import { Connection } from "../wire/connection.ts";
import { type PeerMessage, PIECE_PART_BYTES, parsePeerMessage } from "../wire/peer_protocol.ts";
import { connectTls, type PeerKey, secureHandlers } from "../wire/tls.ts";

/** What the engine hears from one seeder. */
export interface LinkEvents {
  ready(link: PeerLink, have: Bitfield, superSeed: boolean): void;
  /** The seeder has piece `index`, or is receiving it and sends it as it arrives (p_soon). */
  have(link: PeerLink, index: number): void;
  /**
   * A part of piece `index` arrived: `bytes` is the buffer it is put together in, `received`
   * bytes of it in so far; `fresh` for its first part (a piece started over is fresh again).
   * The buffer is read only until the piece is whole (`piece`) or the link closes.
   */
  arriving(link: PeerLink, index: number, bytes: Uint8Array, received: number, fresh: boolean): void;
  /** `data` is lent by the link's pool: the engine gives it back when done with it. */
  piece(link: PeerLink, index: number, data: Uint8Array): void;
  reject(link: PeerLink, index: number): void;
  busy(link: PeerLink, index: number): void;
  resume(link: PeerLink): void;
  haveAll(link: PeerLink): void;
  closed(link: PeerLink, reason: string): void;
}

/** Who we are to a seeder, and which file we want. */
export interface LinkIdentity {
  group: string;
  name: string;
  selfPeer: string;
  session: string;
  sizeBytes: number;
  pieceCount: number;
  /** Our key, and the key each seeder's session registered with the tracker. */
  trust: SeederTrust;
}

/** Our key, and the id of the key the seeder at an address must present (from the tracker). */
export interface SeederTrust {
  identity: TlsIdentity;
  keyOf(peer: string): string | undefined;
  /**
   * The tracker confirmed that `peer`'s session registered `key` (a check_peer that passed when
   * it connected to us): without it a newcomer introduced that way, not yet in any file_info
   * reply, would be refused when we dial it.
   */
  vouch(peer: string, key: string): void;
}

/**
 * Bodies of parts smaller than a piece, copied into their piece and given back at once: a
 * piece-sized buffer for each would leave that many idle in the pool at the peak (+4 MiB of
 * leecher RSS on loopback, where the first pieces of each seeder come in parts).
 */
const partBodies = new BufferPool({ bufferBytes: PIECE_PART_BYTES + PART_FRAME_OVERHEAD_BYTES, maxIdle: 8 });

type Part = Extract<PeerMessage, { t: "p_part" }>;

/** The piece being put together from its parts (a seeder sends one piece at a time). */
interface Assembly {
  index: number;
  bytes: Uint8Array;
  received: number;
}

export class PeerLink {
  readonly peer: string;
  #conn: Connection | undefined;
  #ready = false;
  #closeReason = "connection closed";
  #closedByUs = false;
  #assembly: Assembly | undefined;

  private constructor(peer: string) {
    this.peer = peer;
  }

  /**
   * Connects to `peer` (host:port); events follow. Rejects if the connection fails or the
   * seeder presents a key other than the one its session registered.
   * Piece bodies are read into buffers lent by `pool`.
   */
  static async open(
    peer: string,
    id: LinkIdentity,
    events: LinkEvents,
    options: { pool: BufferPool; log: (line: string) => void },
  ): Promise<PeerLink> {
    const link = new PeerLink(peer);
    const at = peer.lastIndexOf(":");
    let binding: Uint8Array = new Uint8Array(0);
    const handler = {
      message: (conn: Connection, value: unknown) => {
        const msg = parsePeerMessage(value);
        if (msg.t === "p_part") {
          link.#part(conn, msg, id, events, options.pool);
          return;
        }
        // Closed by the engine: frames still in the same read (TLS hands over ~500 KiB at a
        // time) are not its business.
        if (link.#closedByUs) return;
        switch (msg.t) {
          case "p_challenge":
            conn.send({
              t: "p_hello",
              group: id.group,
              name: id.name,
              peer: id.selfPeer,
              proof: peerProof(id.session, peer, { nonce: msg.nonce, binding }),
            });
            return;
          case "p_refuse":
            link.#closeReason = `refused: ${msg.reason}`;
            conn.end();
            return;
          case "p_bitfield":
            if (link.#ready) throw new ProtocolError("Second bitfield");
            link.#ready = true;
            events.ready(link, Bitfield.fromBytes(msg.bits, id.pieceCount), msg.superSeed === true);
            return;
          case "p_have":
          case "p_soon":
          case "p_reject":
          case "p_busy":
            if (!link.#ready) throw new ProtocolError(`${msg.t} before the bitfield`);
            if (msg.index >= id.pieceCount) throw new ProtocolError(`Piece index ${msg.index} out of range`);
            if (msg.t === "p_have" || msg.t === "p_soon") events.have(link, msg.index);
            else if (msg.t === "p_busy") events.busy(link, msg.index);
            else {
              if (link.#assembly?.index === msg.index) link.#dropAssembly(options.pool);
              events.reject(link, msg.index);
            }
            return;
          case "p_resume":
          case "p_have_all":
            if (!link.#ready) throw new ProtocolError(`${msg.t} before the bitfield`);
            if (msg.t === "p_resume") events.resume(link);
            else events.haveAll(link);
            return;
          default:
            throw new ProtocolError(`Unexpected ${msg.t} from a seeder`);
        }
      },
      close: () => {
        events.closed(link, link.#closeReason);
        link.#dropAssembly(options.pool); // after the engine let go of it
      },
    };
    await new Promise<void>((resolve, reject) => {
      Bun.connect<Connection>({
        hostname: peer.slice(0, at),
        port: Number(peer.slice(at + 1)),
        tls: connectTls(id.trust.identity),
        socket: secureHandlers(
          (socket: Socket<Connection>, seeder: PeerKey) => {
            binding = seeder.binding;
            link.#conn = new Connection(socket, handler, undefined, {
              log: options.log,
              pool: [partBodies, options.pool],
            });
            resolve();
          },
          {
            check: (key) => {
              const registered = id.trust.keyOf(peer);
              if (key === registered) return undefined;
              const reason = `refusing seeder ${peer}: it presented key ${key}, but its session registered ${registered || "none"}`;
              options.log(reason);
              return reason;
            },
            failed: (reason) => reject(new Error(reason)),
          },
        ),
      }).catch(reject);
    });
    return link;
  }

  /**
   * Puts a part into its piece; the piece goes to the engine once whole. `data` is lent by
   * `pool`: a whole piece in one part goes on as it is, any other part is copied and given back.
   */
  #part(conn: Connection, m: Part, id: LinkIdentity, events: LinkEvents, pool: BufferPool): void {
    if (this.#closedByUs) {
      pool.give(m.data); // a dropped liar's next bad piece must not count again
      return;
    }
    if (!this.#ready) throw new ProtocolError("p_part before the bitfield");
    if (m.index >= id.pieceCount) throw new ProtocolError(`Piece index ${m.index} out of range`);
    const length = pieceLength(id.sizeBytes, m.index);
    let whole: Uint8Array | undefined;
    if (m.offset === 0 && m.data.byteLength === length && !this.#assembly) whole = m.data;
    else
      try {
        whole = this.#assemble(m, length, events, pool);
      } finally {
        partBodies.give(m.data); // whichever lent it takes it back
        pool.give(m.data);
      }
    if (!whole) return;
    // First, so that the seeder's slot frees while we check and write the piece.
    conn.send({ t: "p_got", index: m.index });
    events.piece(this, m.index, whole);
  }

  /** Copies a part into the piece being put together; the piece once it is whole. */
  #assemble(m: Part, length: number, events: LinkEvents, pool: BufferPool): Uint8Array | undefined {
    const { index, offset, data } = m;
    let a = this.#assembly;
    if (offset === 0) {
      if (a && a.index !== index)
        throw new ProtocolError(`A part of piece ${index} before piece ${a.index} was whole`);
      a ??= { index, bytes: pool.take(length), received: 0 };
      a.received = 0;
      this.#assembly = a;
    } else if (a?.index !== index || a.received !== offset)
      throw new ProtocolError(
        `A part of piece ${index} at ${offset}, where ${a ? `piece ${a.index} goes on at ${a.received}` : "no piece was begun"}`,
      );
    if (offset + data.byteLength > length)
      throw new ProtocolError(`A part of piece ${index} ends past its ${length} bytes`);
    a.bytes.set(data, offset);
    a.received += data.byteLength;
    if (a.received < length) {
      events.arriving(this, index, a.bytes, a.received, offset === 0);
      return undefined;
    }
    this.#assembly = undefined;
    return a.bytes;
  }

  #dropAssembly(pool: BufferPool): void {
    if (this.#assembly) pool.give(this.#assembly.bytes);
    this.#assembly = undefined;
  }

  /**
   * Asks for piece `index`, saying how many pieces we still lack (the furthest behind are
   * served first) and how many are arriving at us (those receiving the fewest, before them).
   */
  request(index: number, missing: number, arriving: number): void {
    this.#conn?.send({ t: "p_request", index, missing, arriving });
  }

  /** Tells the seeder how many pieces are arriving at us now (see `request`). */
  arriving(count: number): void {
    this.#conn?.send({ t: "p_arriving", count });
  }

  /** Whether a piece from this seeder is partly here. */
  get receiving(): boolean {
    return this.#assembly !== undefined;
  }

  /** Tells a super-seeding seeder that none of what it shows is of use (it shows others). */
  decline(): void {
    this.#conn?.send({ t: "p_decline" });
  }

  cancel(index: number): void {
    this.#conn?.send({ t: "p_cancel", index });
  }

  /** Stops reading from this seeder (our disk is behind); `resume()` starts again. */
  pause(): void {
    this.#conn?.pause();
  }

  resume(): void {
    this.#conn?.resume();
  }

  /** Whether this side closed the link (`close()`), rather than the seeder or the network. */
  get closedByUs(): boolean {
    return this.#closedByUs;
  }

  close(reason: string): void {
    this.#closedByUs = true;
    this.#closeReason = reason;
    this.#conn?.end();
  }
}
