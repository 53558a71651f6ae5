import {
  decodePayload,
  ENGINE_ERRORS,
  ENGINE_IO_PROTOCOL,
  type EnginePacket,
  encodePayload,
  openPacket,
} from '../dialects/engineio';
import { acceptAndClose, corsHeaders, postAccepted, refusal, statusAnswer, textAnswer } from './engineio-http';
import { holdPoll, holdProbePoll } from './engineio-polling';
import { type EngineSession, type EngineSettings, openPayload } from './engineio-session';

/**
 * The Engine.IO actor's HTTP surface: which request is a handshake (polling or WebSocket), a poll, a POST of
 * packets or an upgrade probe, and the protocol's refusals in between. What it needs of the actor is `EngineRoutes`.
 */

/** The actor's side of HTTP routing: its sessions and the transports it opens. */
export interface EngineRoutes<S> {
  settings(): EngineSettings;
  /** The live session `sid`, or null. */
  session(sid: string): EngineSession<S> | null;
  /** A new polling session, its ping scheduled. */
  openPolling(url: URL): EngineSession<S>;
  /** A new WebSocket session (the handshake's 101). */
  openWebSocket(settings: EngineSettings, url: URL): Response;
  /** A WebSocket that probes an upgrade of a polling session (101). */
  acceptProbe(session: EngineSession<S>): Response;
  closeSession(session: EngineSession<S>, reason: string): Promise<void>;
  onPacket(session: EngineSession<S>, packet: EnginePacket, settings: EngineSettings): Promise<void>;
}

export async function routeEngineRequest<S>(request: Request, actor: EngineRoutes<S>): Promise<Response> {
  const settings = actor.settings();
  const { cors } = settings;
  const url = new URL(request.url);
  const isUpgrade = request.headers.get('upgrade')?.toLowerCase() === 'websocket';
  if (cors && request.method === 'OPTIONS') return new Response(null, { status: 204, headers: corsHeaders(true) });
  if (url.searchParams.get('EIO') !== String(ENGINE_IO_PROTOCOL))
    return refusal(ENGINE_ERRORS.UNSUPPORTED_PROTOCOL_VERSION, cors);
  const transport = url.searchParams.get('transport');
  if (transport !== 'polling' && transport !== 'websocket') return refusal(ENGINE_ERRORS.UNKNOWN_TRANSPORT, cors);
  const sid = url.searchParams.get('sid');

  if (!sid) {
    if (request.method !== 'GET') return refusal(ENGINE_ERRORS.BAD_HANDSHAKE_METHOD, cors);
    if (transport === 'websocket') {
      if (!isUpgrade) return refusal(ENGINE_ERRORS.BAD_REQUEST, cors);
      return actor.openWebSocket(settings, url);
    }
    const session = actor.openPolling(url);
    return textAnswer(encodePayload([openPacket(openPayload(session, settings, ['websocket']))]), cors);
  }

  const session = actor.session(sid);
  if (!session) return refusal(ENGINE_ERRORS.UNKNOWN_SID, cors);
  if (transport === 'websocket') {
    if (!isUpgrade) return refusal(ENGINE_ERRORS.BAD_REQUEST, cors);
    // A second upgrade of the same session: accepted and closed at once, as the reference server does.
    if (session.transport === 'websocket' || session.probe) return acceptAndClose();
    return actor.acceptProbe(session);
  }
  if (session.transport !== 'polling') return refusal(ENGINE_ERRORS.BAD_REQUEST, cors);
  if (request.method === 'GET') return onPollRequest(actor, session, cors);
  if (request.method === 'POST') return onDataRequest(actor, session, request, settings);
  return refusal(ENGINE_ERRORS.BAD_REQUEST, cors);
}

function onPollRequest<S>(actor: EngineRoutes<S>, session: EngineSession<S>, cors: boolean): Response | Promise<Response> {
  if (session.poll) {
    // One GET at a time: the reference server closes the session ("overlap from client"); the held GET gets
    // the close packet.
    void actor.closeSession(session, 'transport error');
    return statusAnswer(400, cors);
  }
  // While a WebSocket probes an upgrade, a poll ends soon with a noop so that the client can pause polling, or
  // with a 400 if the upgrade completes first (it raced the probe's `5`).
  const held = session.probe && session.queue.length === 0 ? holdProbePoll(session) : holdPoll(session);
  return held.then((body) => (body === null ? refusal(ENGINE_ERRORS.BAD_REQUEST, cors) : textAnswer(body, cors)));
}

async function onDataRequest<S>(
  actor: EngineRoutes<S>,
  session: EngineSession<S>,
  request: Request,
  settings: EngineSettings,
): Promise<Response> {
  const { cors } = settings;
  if (session.posting) {
    await actor.closeSession(session, 'transport error');
    return statusAnswer(400, cors);
  }
  if (request.headers.get('content-type') === 'application/octet-stream') {
    await actor.closeSession(session, 'transport error');
    return statusAnswer(400, cors);
  }
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > settings.maxPayload) return statusAnswer(413, cors);
  session.posting = true;
  try {
    const body = await request.text();
    if (new TextEncoder().encode(body).byteLength > settings.maxPayload) return statusAnswer(413, cors);
    const packets = decodePayload(body);
    if (!packets) {
      await actor.closeSession(session, 'parse error');
      return statusAnswer(400, cors);
    }
    for (const packet of packets) {
      if (session.closed) break;
      await actor.onPacket(session, packet, settings);
    }
    return postAccepted(cors);
  } finally {
    session.posting = false;
  }
}
