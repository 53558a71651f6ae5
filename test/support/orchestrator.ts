import { env } from 'cloudflare:test';
import { orchestratorKey } from '../../src/actors/keys';
import type { Room } from '../../src/actors/room';
import { type Frame, service } from './sockets';

/** A tenant's orchestrator channel: the Room actor the core's capability tests drive directly. */
export const room = (tenant: string) => env.ROOM.getByName(orchestratorKey(tenant));

export type Stub = ReturnType<typeof room>;
/** RPC typings cannot express `unknown` payloads; the actor's own signatures are the contract. */
type RoomApi = Pick<Room, 'poll' | 'clients' | 'publishOrchestrator' | 'sendFrame' | 'configure' | 'orchestratorState'>;
export const rpc = (stub: Stub) => stub as unknown as RoomApi;

/** Publishes `iteration_output` events numbered `from`..`to` ("line N") as the service. */
export async function publishOutputs(stub: Stub, tenant: string, from: number, to: number) {
  const items = [];
  for (let i = from; i <= to; i++)
    items.push({ type: 'iteration_output', payload: { taskId: 'T', iteration: 1, output: `line ${i}` } });
  const res = await rpc(stub).publishOrchestrator(service(tenant), items);
  if (!res.ok) throw new Error(JSON.stringify(res.error));
  return res.events;
}

export const outputs = (frames: Frame[]) => frames.map((f) => f.payload.output as string);
