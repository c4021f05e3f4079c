// The sync client: runs the Engine over a WebSocket, reconnecting with backoff, and reports events.
//
// One async loop owns the connection: it picks a server URL at random per attempt, connects,
// serves frames until the connection ends, then waits the backoff (0.5 s doubling to 60 s,
// reset by a successful login) unless the failure is permanent. Frames go to the engine in
// order; the store's queue listener wakes the engine when the application queues a
// transaction; a one-second timer drives heartbeats and the idle timeout.

import { Engine, type Credentials, type EngineState, type Retry, type SyncEvent } from './engine.js';
import { DEFAULT_MAX_MESSAGE_SIZE, LoginCode, codeName, type RequestUpdatesMode } from './protocol.js';
import type { LocalStore } from './store.js';

/** The first reconnect delay; it doubles after each failed attempt. */
export const INITIAL_BACKOFF_MS = 500;
/** The longest reconnect delay. */
export const MAX_BACKOFF_MS = 60_000;
/** How long opening a WebSocket may take. */
export const CONNECT_TIMEOUT_MS = 10_000;
/** How often the engine's heartbeat and idle checks run. */
export const TICK_INTERVAL_MS = 1_000;

/** The WebSocket API subset used here (the browser's, or the `ws` package's in Node). */
export interface WebSocketLike {
  binaryType: string;
  readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(): void;
}

export type WebSocketFactory = (url: string) => WebSocketLike;

export interface SyncClientOptions {
  /** One server URL (`ws://host:port` or `wss://…`) or several; each attempt picks one at random. */
  url: string | string[];
  credentials?: Credentials;
  /** `Auto` (default): catch up, then live pushes; `AutoNoPushes`: catch up once; `Manual`: only on `requestUpdates`. */
  mode?: RequestUpdatesMode;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  connectTimeoutMs?: number;
  /** Creates the WebSocket; defaults to the global `WebSocket`, else the `ws` package. */
  webSocket?: WebSocketFactory;
  /** Sees every frame sent (`out`) and received (`in`), for debugging and tests. */
  trace?: (direction: 'in' | 'out', frame: Uint8Array) => void;
}

/** What the client is doing. */
export type ClientState = 'stopped' | 'connecting' | 'connected' | 'loggedIn' | 'waiting';

/** Everything a client reports: protocol events plus its own state and queue length. */
export type ClientEvent = SyncEvent | { type: 'state'; state: ClientState } | { type: 'queueLength'; length: number };

type Listener = (event: ClientEvent) => void;
type Outcome = Retry | 'reconnectNow' | 'stop';

/** A sync client for one store. Create it, subscribe with `on`, then `start()`. */
export class SyncClient {
  readonly engine: Engine;
  state: ClientState = 'stopped';
  private listeners = new Set<Listener>();
  private urls: string[];
  private running = false;
  private loop: Promise<void> | undefined;
  /** Ends the current connection or wait with an outcome; set while one is in progress. */
  private interrupt: ((outcome: Outcome) => void) | undefined;
  private credentialsChanged: (() => void) | undefined;
  private loggedInThisConnection = false;
  private factory: WebSocketFactory | undefined;

  constructor(
    // Any typed store: the engine only uses the untyped protocol methods.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    readonly store: LocalStore<any>,
    private options: SyncClientOptions,
  ) {
    this.urls = Array.isArray(options.url) ? [...options.url] : [options.url];
    if (this.urls.length === 0) throw new Error('SyncClient needs at least one server URL');
    for (const url of this.urls) {
      if (!/^wss?:\/\/[^/]+/.test(url)) throw new Error(`invalid server URL "${url}": expected ws://host:port or wss://host:port`);
    }
    this.factory = options.webSocket;
    this.engine = new Engine(
      store,
      {
        send: (frame) => this.sendFrame(frame),
        emit: (event) => this.emit(event),
        close: (retry) => this.interrupt?.(retry),
      },
      { mode: options.mode ?? 'Auto', credentials: options.credentials ?? { type: 'none' } },
    );
  }

  /** Calls `listener` with every event from now on; returns the unsubscribe function. */
  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts connecting. Later calls do nothing while running. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Closes the connection and ends the loop. The store stays open. */
  async stop(): Promise<void> {
    this.running = false;
    this.interrupt?.('stop');
    this.credentialsChanged?.();
    await this.loop;
  }

  /** Drops the current connection (if any) and connects again at once. */
  reconnect(): void {
    this.interrupt?.('reconnectNow');
  }

  /** Replaces the credentials for the next login; lifts a stop caused by rejected credentials. */
  setCredentials(credentials: Credentials): void {
    this.engine.setCredentials(credentials);
    this.credentialsChanged?.();
  }

  /** Asks for the updates since the position, and with `subscribe` for live pushes afterwards. */
  requestUpdates(subscribe: boolean): boolean {
    return this.engine.requestUpdates(subscribe, now());
  }

  /** Stops live pushes. */
  cancelUpdates(): boolean {
    return this.engine.cancelUpdates(now());
  }

  /** The estimated current server time in ms since the epoch, from the last login. */
  serverTimeMs(): number | undefined {
    const t = this.engine.serverTimeMs(now());
    return t === undefined ? undefined : Math.round(t);
  }

  /** How many local transactions wait for the server's acknowledgement. */
  queueLength(): number {
    return this.store.queueLength();
  }

  /** Whether the client is logged in, caught up, and has no unacknowledged local change. */
  isSynced(): boolean {
    return this.engine.isCaughtUp() && this.store.queueLength() === 0;
  }

  /**
   * Resolves once `isSynced()` holds (checked after every event); rejects after `timeoutMs` or
   * when a login failure stops the client.
   */
  whenSynced(timeoutMs = 30_000): Promise<void> {
    return this.waitFor(() => this.isSynced(), timeoutMs, 'synced');
  }

  /** Resolves once `predicate` holds, checked now and after every event; rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs: number, what = 'condition'): Promise<void> {
    return new Promise((resolve, reject) => {
      let off = () => {};
      const timer = setTimeout(() => {
        off();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (state ${this.state}, queue ${this.store.queueLength()})`));
      }, timeoutMs);
      const check = () => {
        const blocked = this.engine.blocked;
        if (blocked) {
          clearTimeout(timer);
          off();
          reject(new Error(`login failed with ${codeName(LoginCode, blocked.code) ?? 'code'} (${blocked.code}): ${blocked.message}`));
        } else if (predicate()) {
          clearTimeout(timer);
          off();
          resolve();
        }
      };
      const offEvents = this.on(check);
      const offChanges = this.store.onChange(() => check());
      off = () => {
        offEvents();
        offChanges();
      };
      check();
    });
  }

  // Helpers below.

  private socket: WebSocketLike | undefined;

  private sendFrame(frame: Uint8Array): void {
    const ws = this.socket;
    if (ws && ws.readyState === 1) {
      this.options.trace?.('out', frame);
      ws.send(frame);
    }
  }

  private emit(event: ClientEvent): void {
    if (event.type === 'loggedIn') {
      this.loggedInThisConnection = true;
      this.setState('loggedIn');
    }
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch (e) {
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }

  private setState(state: ClientState): void {
    if (this.state === state) return;
    this.state = state;
    this.emit({ type: 'state', state });
  }

  private async run(): Promise<void> {
    const initial = this.options.initialBackoffMs ?? INITIAL_BACKOFF_MS;
    const max = this.options.maxBackoffMs ?? MAX_BACKOFF_MS;
    let backoff = initial;
    const offQueue = this.store.onQueueChange(() => {
      this.emit({ type: 'queueLength', length: this.store.queueLength() });
      this.engine.onQueueChanged(now());
    });
    try {
      while (this.running) {
        const blocked = this.engine.blocked;
        if (blocked) {
          if (blocked.retry === 'never') break;
          this.setState('waiting');
          await new Promise<void>((resolve) => (this.credentialsChanged = resolve));
          this.credentialsChanged = undefined;
          continue;
        }
        const url = this.urls[Math.floor(Math.random() * this.urls.length)]!;
        this.setState('connecting');
        let outcome: Outcome;
        let ws: WebSocketLike | undefined;
        try {
          ws = await this.connect(url);
        } catch (e) {
          if (this.running) this.emit({ type: 'connectFailed', error: `connecting to ${url} failed: ${(e as Error).message}`, retryInMs: backoff });
        }
        if (ws) {
          this.loggedInThisConnection = false;
          outcome = await this.serve(ws);
          if (this.loggedInThisConnection) backoff = initial;
        } else {
          outcome = this.running ? 'backoff' : 'stop';
        }
        if (outcome === 'stop' || outcome === 'never' || !this.running) break;
        if (outcome === 'reconnectNow' || outcome === 'whenCredentialsChange') continue;
        this.setState('waiting');
        const waited = await this.sleep(backoff);
        if (waited === 'stop') break;
        backoff = waited === 'reconnectNow' ? initial : Math.min(backoff * 2, max);
      }
    } finally {
      offQueue();
      this.running = false;
      this.setState('stopped');
    }
  }

  private async connect(url: string): Promise<WebSocketLike> {
    const factory = this.factory ?? (this.factory = await defaultFactory());
    return new Promise((resolve, reject) => {
      let ws: WebSocketLike;
      try {
        ws = factory(url);
      } catch (e) {
        reject(e as Error);
        return;
      }
      ws.binaryType = 'arraybuffer';
      const timer = setTimeout(() => {
        finish(new Error(`no WebSocket connection within ${this.options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS} ms`));
        try {
          ws.close();
        } catch {
          // Closing a socket that never opened may throw; it is dropped either way.
        }
      }, this.options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS);
      let done = false;
      const finish = (error?: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.interrupt = undefined;
        ws.onopen = ws.onerror = ws.onclose = null;
        if (error) reject(error);
        else resolve(ws);
      };
      // The server's Hello can arrive in the same read as the upgrade answer, before `serve`
      // installs its handler: keep such early frames for it.
      const early: Array<{ data: unknown }> = [];
      (ws as WebSocketLike & { early?: typeof early }).early = early;
      ws.onmessage = (ev) => early.push(ev);
      ws.onopen = () => finish();
      ws.onerror = (ev) => finish(new Error(describeError(ev)));
      ws.onclose = () => finish(new Error('the connection closed before it opened'));
      this.interrupt = (outcome) => {
        finish(new Error(outcome === 'stop' ? 'stopped' : 'interrupted'));
        try {
          ws.close();
        } catch {
          // See above.
        }
      };
    });
  }

  private serve(ws: WebSocketLike): Promise<Outcome> {
    return new Promise((resolve) => {
      this.socket = ws;
      let ended = false;
      const end = (outcome: Outcome) => {
        if (ended) return;
        ended = true;
        clearInterval(timer);
        this.interrupt = undefined;
        this.socket = undefined;
        ws.onmessage = ws.onclose = ws.onerror = null;
        try {
          ws.close();
        } catch {
          // Already closed.
        }
        this.engine.onDisconnected();
        resolve(outcome);
      };
      this.interrupt = end;
      const timer = setInterval(() => this.engine.onTick(now()), TICK_INTERVAL_MS);
      ws.onmessage = (ev) => {
        const data = ev.data;
        let frame: Uint8Array | undefined;
        if (data instanceof ArrayBuffer) frame = new Uint8Array(data);
        else if (ArrayBuffer.isView(data)) frame = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        if (!frame) {
          this.engine.onTextFrame();
          return;
        }
        this.options.trace?.('in', frame);
        void this.engine.onFrame(frame, now());
      };
      ws.onclose = () => end('backoff');
      ws.onerror = () => end('backoff');
      this.setState('connected');
      this.engine.onConnected(now());
      const early = (ws as WebSocketLike & { early?: Array<{ data: unknown }> }).early ?? [];
      for (const ev of early.splice(0)) ws.onmessage?.(ev);
      if (!this.running) end('stop');
    });
  }

  /** Waits `ms`, or less if interrupted; says what ended the wait. */
  private sleep(ms: number): Promise<Outcome | 'elapsed'> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.interrupt = undefined;
        resolve('elapsed' as Outcome | 'elapsed');
      }, ms);
      this.interrupt = (outcome) => {
        clearTimeout(timer);
        this.interrupt = undefined;
        resolve(outcome);
      };
    }).then((r) => (r === 'elapsed' ? 'elapsed' : r)) as Promise<Outcome | 'elapsed'>;
  }
}

/** The engine's state, re-exported for callers that inspect it. */
export type { EngineState };

/** The global WebSocket (browsers, Node 22+), else the `ws` package (Node 20). */
async function defaultFactory(): Promise<WebSocketFactory> {
  const Global = (globalThis as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket;
  if (Global) return (url) => new Global(url);
  const ws = (await import('ws')) as unknown as { WebSocket: new (url: string, options: object) => WebSocketLike };
  // Accept the largest messages the server may send (its limit applies to incoming ones only).
  return (url) => new ws.WebSocket(url, { maxPayload: 4 * DEFAULT_MAX_MESSAGE_SIZE });
}

function describeError(ev: unknown): string {
  const e = ev as { message?: string; error?: { message?: string } };
  return e?.error?.message ?? e?.message ?? 'WebSocket error';
}

function now(): number {
  return performance.now();
}
