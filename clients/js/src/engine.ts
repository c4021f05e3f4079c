// The client side of the sync protocol as a state machine: frames in, frames and events out, no sockets or timers.
//
// - `onConnected`, then every received frame to `onFrame`; the engine answers `Hello` with
//   `Login`, and after a successful `LoginResult` sends the whole outgoing queue pipelined and
//   every transaction queued later (`onQueueChanged`).
// - Pushes, full-sync messages, acks and rejections are applied to the store, each in one local
//   write, and reported as events.
// - `onTick` at `nextDeadline()` sends heartbeats and declares a silent connection dead.
// - `host.close(retry)` tells the driver to drop the connection and whether to reconnect.
//
// Architecture invariant: no WebSocket or timer here; time comes in as monotonic milliseconds
// from the caller. Ported from the Rust client's `client/src/engine.rs`, rule for rule.

import { DecodeError } from './msgpack.js';
import {
  ErrorCode, HEARTBEAT_INTERVAL_MS, IDLE_TIMEOUT_MS, LoginCode, PROTOCOL_VERSION, TxErrorCode, codeName, decodeServer,
  encodeClient, type ClientMessage, type Credential, type JwtKind, type RequestUpdatesMode, type ServerMessage,
} from './protocol.js';
import { hmacSha256 } from './sha256.js';
import type { Change, LocalStore } from './store.js';

/** What a client proves its identity with. */
export type Credentials =
  | { type: 'none' }
  | { type: 'sharedSecret'; secret: string | Uint8Array }
  | { type: 'jwt'; token: string; kind?: JwtKind }
  | { type: 'userPassword'; user: string; password: string };

/** Whether and when to connect again after a close. */
export type Retry = 'backoff' | 'whenCredentialsChange' | 'never';

/** The engine's view of the connection. */
export type EngineState = 'disconnected' | 'awaitingHello' | 'loggingIn' | 'loggedIn';

/** What a client reports to its listeners. */
export type SyncEvent =
  | { type: 'connected' }
  | { type: 'loggedIn'; serverTimeMs: number; headSeq: number }
  | { type: 'loginFailed'; code: number; codeName: string; message: string; retry: Retry }
  | { type: 'disconnected' }
  | { type: 'connectFailed'; error: string; retryInMs: number }
  | { type: 'syncComplete'; seq: number }
  | { type: 'changes'; changes: Change[] }
  | { type: 'txAcked'; txId: number; seq: number }
  | { type: 'txRejected'; txId: number; code: number; codeName: string; message: string }
  | { type: 'serverError'; code: number; codeName: string; message: string }
  | { type: 'protocolError'; message: string }
  | { type: 'storeError'; message: string };

/** What the engine needs from its driver. */
export interface EngineHost {
  send(frame: Uint8Array): void;
  emit(event: SyncEvent): void;
  close(retry: Retry): void;
}

/** How the client behaves after a login failure with `code` (as the Rust client decides). */
export function retryAfterLogin(code: number): Retry {
  switch (code) {
    case LoginCode.CREDENTIALS_REJECTED:
      return 'whenCredentialsChange';
    case LoginCode.REQ_REJECTED:
    case LoginCode.BAD_VERSION:
    case LoginCode.UNSUPPORTED_DATA_MODEL:
    case LoginCode.TRIAL_EXPIRED:
      return 'never';
    default:
      // CLIENT_ID_TAKEN clears when the server drops the old connection; AUTH_UNREACHABLE,
      // UNKNOWN and newer codes may be transient.
      return 'backoff';
  }
}

/** The protocol state machine of one client, across connections. */
export class Engine {
  state: EngineState = 'disconnected';
  /** Set by a login failure that must not be retried as is; cleared by new credentials. */
  blocked: { code: number; retry: Retry; message: string } | undefined;
  private sentUpTo = 0;
  private caughtUp = false;
  private completedSeq: number | undefined;
  private lastReceivedMs = 0;
  private lastSentMs = 0;
  private loginSentMs = 0;
  private serverTime: { serverMs: number; atMs: number } | undefined;
  /** Frames are applied one after another; this is the tail of that chain. */
  private inbox: Promise<void> = Promise.resolve();
  private connection = 0;

  constructor(
    // Any typed store: the engine only uses the untyped protocol methods.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    readonly store: LocalStore<any>,
    private host: EngineHost,
    private options: { mode: RequestUpdatesMode; credentials: Credentials },
  ) {}

  /** Whether the client is logged in and has caught up since its last request for updates. */
  isCaughtUp(): boolean {
    return this.state === 'loggedIn' && this.caughtUp;
  }

  /** The estimated server time, from the last login, at monotonic time `nowMs`. */
  serverTimeMs(nowMs: number): number | undefined {
    return this.serverTime && this.serverTime.serverMs + Math.max(0, nowMs - this.serverTime.atMs);
  }

  /** Replaces the credentials; lifts a stop caused by rejected credentials. */
  setCredentials(credentials: Credentials): void {
    this.options.credentials = credentials;
    if (this.blocked?.retry === 'whenCredentialsChange') this.blocked = undefined;
  }

  /** A connection is open; the server speaks first. */
  onConnected(nowMs: number): void {
    this.connection++;
    this.state = 'awaitingHello';
    this.sentUpTo = 0;
    this.caughtUp = false;
    this.completedSeq = undefined;
    this.lastReceivedMs = nowMs;
    this.lastSentMs = nowMs;
    this.host.emit({ type: 'connected' });
  }

  /** The connection closed (by either side or by an error). */
  onDisconnected(): void {
    const was = this.state !== 'disconnected';
    this.connection++;
    this.state = 'disconnected';
    this.caughtUp = false;
    if (was) this.host.emit({ type: 'disconnected' });
  }

  /**
   * One binary frame from the server. Frames are processed strictly in order; the returned
   * promise settles when this one has been applied. A frame that does not decode closes the
   * connection with a `protocolError` event; it never throws.
   */
  onFrame(frame: Uint8Array, nowMs: number): Promise<void> {
    this.lastReceivedMs = nowMs;
    const connection = this.connection;
    const next = this.inbox.then(async () => {
      // Frames still queued when their connection ended belong to a dead session.
      if (connection !== this.connection || this.state === 'disconnected') return;
      let message: ServerMessage;
      try {
        message = decodeServer(frame);
      } catch (e) {
        const why = e instanceof DecodeError ? e.message : String(e);
        this.host.emit({ type: 'protocolError', message: `undecodable frame from the server (${frame.length} bytes): ${why}` });
        this.host.close('backoff');
        return;
      }
      try {
        await this.onMessage(message, nowMs);
      } catch (e) {
        this.host.emit({ type: 'storeError', message: `the local store failed while applying server data: ${(e as Error).message}` });
        this.host.close('backoff');
      }
    });
    this.inbox = next;
    return next;
  }

  /** A text message from the server is a protocol error. */
  onTextFrame(): void {
    this.host.emit({ type: 'protocolError', message: 'the server sent a text message; the protocol uses binary messages only' });
    this.host.close('backoff');
  }

  /** The store queued new transactions: send them if logged in. */
  onQueueChanged(nowMs: number): void {
    if (this.state === 'loggedIn') this.sendQueue(nowMs);
  }

  /** Sends a heartbeat when one is due; closes a connection silent for `IDLE_TIMEOUT_MS`. */
  onTick(nowMs: number): void {
    if (this.state === 'disconnected') return;
    if (nowMs - this.lastReceivedMs >= IDLE_TIMEOUT_MS) {
      this.host.emit({ type: 'protocolError', message: `nothing received from the server for ${IDLE_TIMEOUT_MS} ms` });
      this.host.close('backoff');
      return;
    }
    if (nowMs - this.lastSentMs >= HEARTBEAT_INTERVAL_MS) this.send({ type: 'Heartbeat', timeMs: Date.now() }, nowMs);
  }

  /** When `onTick` should next be called, in the caller's monotonic ms. */
  nextDeadline(): number | undefined {
    if (this.state === 'disconnected') return undefined;
    return Math.min(this.lastSentMs + HEARTBEAT_INTERVAL_MS, this.lastReceivedMs + IDLE_TIMEOUT_MS);
  }

  /** Asks for the updates since the position, and with `subscribe` for live pushes afterwards. */
  requestUpdates(subscribe: boolean, nowMs: number): boolean {
    if (this.state !== 'loggedIn') return false;
    this.caughtUp = false;
    this.send({ type: 'RequestUpdates', subscribe }, nowMs);
    return true;
  }

  /** Stops live pushes. */
  cancelUpdates(nowMs: number): boolean {
    if (this.state !== 'loggedIn') return false;
    this.send({ type: 'CancelUpdates' }, nowMs);
    return true;
  }

  // Helpers below.

  private async onMessage(message: ServerMessage, nowMs: number): Promise<void> {
    if (message.type === 'Heartbeat') return;
    if (message.type === 'Error') {
      this.host.emit({
        type: 'serverError',
        code: message.code,
        codeName: codeName(ErrorCode, message.code) ?? `code ${message.code}`,
        message: message.message,
      });
      this.host.close('backoff');
      return;
    }
    if (this.state === 'awaitingHello' && message.type === 'Hello') return this.onHello(message, nowMs);
    if (this.state === 'loggingIn' && message.type === 'LoginResult') return this.onLoginResult(message, nowMs);
    if (this.state === 'loggedIn') return this.onLoggedInMessage(message);
    this.host.emit({ type: 'protocolError', message: `unexpected ${message.type} while ${this.state}` });
    this.host.close('backoff');
  }

  private onHello(hello: Extract<ServerMessage, { type: 'Hello' }>, nowMs: number): void {
    if (PROTOCOL_VERSION < hello.minVersion || PROTOCOL_VERSION > hello.maxVersion) {
      this.failLogin(
        LoginCode.BAD_VERSION,
        `the server speaks protocol versions ${hello.minVersion}..=${hello.maxVersion}, this client speaks ${PROTOCOL_VERSION}`,
      );
      return;
    }
    const s = this.store.syncState();
    this.state = 'loggingIn';
    this.loginSentMs = nowMs;
    this.send(
      {
        type: 'Login',
        protocolVersion: PROTOCOL_VERSION,
        peerId: s.peerId,
        credentials: [toWire(this.options.credentials, hello.nonce, s.peerId)],
        schemaFullHash: this.store.model.fullHash,
        schemaBaseHash: this.store.model.baseHash,
        lastSeq: s.lastSeq,
        mode: this.options.mode,
        lastTxId: s.lastTxId,
      },
      nowMs,
    );
  }

  private onLoginResult(result: Extract<ServerMessage, { type: 'LoginResult' }>, nowMs: number): void {
    if (result.code !== LoginCode.OK) {
      this.failLogin(result.code, result.message);
      return;
    }
    const halfRtt = Math.max(0, nowMs - this.loginSentMs) / 2;
    this.serverTime = { serverMs: result.serverTimeMs + halfRtt, atMs: nowMs };
    this.state = 'loggedIn';
    this.blocked = undefined;
    this.host.emit({ type: 'loggedIn', serverTimeMs: result.serverTimeMs, headSeq: result.headSeq });
    this.sendQueue(nowMs);
  }

  private failLogin(code: number, message: string): void {
    const retry = retryAfterLogin(code);
    if (retry !== 'backoff') this.blocked = { code, retry, message };
    this.host.emit({ type: 'loginFailed', code, codeName: codeName(LoginCode, code) ?? `code ${code}`, message, retry });
    this.host.close(retry);
  }

  private async onLoggedInMessage(message: ServerMessage): Promise<void> {
    switch (message.type) {
      case 'Push':
        await this.store.applyPush(message.txs);
        return;
      case 'FullSyncBegin':
        await this.store.beginFullSync(message.seq, message.ackedTxId);
        return;
      case 'FullSyncChunk':
        await this.store.applyFullSyncChunk(message.ops);
        return;
      case 'FullSyncEnd':
        await this.store.endFullSync(message.seq);
        this.completed(message.seq);
        return;
      case 'SyncComplete':
        await this.store.advanceSeq(message.seq);
        this.completed(message.seq);
        return;
      case 'Ack':
        // An Ack is not part of the seq-ordered stream, so it never moves the position.
        await this.store.applyAck(message.txId, message.seq, message.corrections);
        this.host.emit({ type: 'txAcked', txId: message.txId, seq: message.seq });
        return;
      case 'TxRejected':
        await this.store.dropRejected(message.txId);
        this.host.emit({
          type: 'txRejected',
          txId: message.txId,
          code: message.code,
          codeName: codeName(TxErrorCode, message.code) ?? `code ${message.code}`,
          message: message.message,
        });
        return;
      default:
        this.host.emit({ type: 'protocolError', message: `unexpected ${message.type} after login` });
        this.host.close('backoff');
    }
  }

  /** Marks the client caught up as of `seq`; reports it once per `seq` (FullSyncEnd is followed by SyncComplete). */
  private completed(seq: number): void {
    const report = !this.caughtUp || this.completedSeq !== seq;
    // The state changes before the event, so listeners see the client caught up.
    this.caughtUp = true;
    this.completedSeq = seq;
    if (report) this.host.emit({ type: 'syncComplete', seq });
  }

  /** Sends every queued transaction not yet sent on this connection. */
  private sendQueue(nowMs: number): void {
    for (const [txId, frame] of this.store.queuedFrames(this.sentUpTo)) {
      this.sentUpTo = txId;
      this.lastSentMs = nowMs;
      this.host.send(frame);
    }
  }

  private send(message: ClientMessage, nowMs: number): void {
    this.lastSentMs = nowMs;
    this.host.send(encodeClient(message));
  }
}

/** The wire credential for a login after a `Hello` with `nonce` (docs/protocol.md 10.4). */
export function toWire(credentials: Credentials, nonce: Uint8Array, peerId: bigint): Credential {
  switch (credentials.type) {
    case 'none':
      return { kind: 'None' };
    case 'sharedSecret':
      return { kind: 'SharedSecret', hmac: sharedSecretProof(credentials.secret, nonce, peerId) };
    case 'jwt':
      return { kind: 'Jwt', jwtKind: credentials.kind ?? 'Id', token: credentials.token };
    case 'userPassword':
      return { kind: 'UserPassword', user: credentials.user, password: credentials.password };
  }
}

/** HMAC-SHA256(secret, nonce ‖ peer id as 8 bytes big-endian). */
export function sharedSecretProof(secret: string | Uint8Array, nonce: Uint8Array, peerId: bigint): Uint8Array {
  const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
  const message = new Uint8Array(nonce.length + 8);
  message.set(nonce);
  new DataView(message.buffer).setBigUint64(nonce.length, peerId);
  return hmacSha256(key, message);
}
