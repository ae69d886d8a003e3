import type { ContainerEventResponse } from '../../generated/runtime/v1/ContainerEventResponse.js';
import type { Services } from '../../daemon/services.js';
import type { DeliveredEvent, EventSnapshot, Snapshotter } from '../../stats/index.js';
import type { CallContext } from '../context.js';
import { containerStatusToWire } from './container-common.js';
import { podStatusToWire } from './pod-status.js';
import { whenDrained } from '../stream-batches.js';

function toWire(event: DeliveredEvent): ContainerEventResponse {
  return {
    container_id: event.containerId,
    container_event_type: event.type,
    created_at: event.createdAt.toString(),
    pod_sandbox_status: event.snapshot?.podSandboxStatus ?? null,
    containers_statuses: event.snapshot?.containersStatuses ?? [],
  };
}

/** The pod's status and its containers' at the moment of an event, shaped as the Status RPCs shape them. */
export function eventSnapshotter(services: Pick<Services, 'pods' | 'containers'>): Snapshotter {
  return (event): EventSnapshot => {
    let pod;
    try {
      pod = podStatusToWire(services.pods.get(event.podId));
    } catch {
      // the pod is already gone (a delete racing a pod removal): the event still goes out
    }
    return { podSandboxStatus: pod, containersStatuses: services.containers.list({ podId: event.podId }).map(containerStatusToWire) };
  };
}

/**
 * GetContainerEvents: one bounded subscription per stream. When the client stops reading,
 * gRPC's buffer fills, this stops taking from the subscription, and that subscription (not
 * the runtime, not the other streams) starts dropping.
 */
export async function containerEvents(_req: unknown, ctx: CallContext, send: (message: ContainerEventResponse) => boolean, drained: () => Promise<void>): Promise<void> {
  const sub = ctx.services.events.subscribe();
  try {
    for (;;) {
      const event = await sub.next(ctx.signal);
      if (!event) return;
      if (!send(toWire(event))) await whenDrained(drained, ctx.signal);
    }
  } finally {
    sub.close();
  }
}
