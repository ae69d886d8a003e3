import type { ContainerEventResponse } from '../../generated/runtime/v1/ContainerEventResponse.js';
import type { Services } from '../../daemon/services.js';
import type { DeliveredEvent, EventSnapshot, Snapshotter } from '../../stats/index.js';
import type { CallContext } from '../context.js';
import { containerStatusToWire } from './container-common.js';
import { podStatus } from './pod-status.js';
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

/** The pod's status and its containers' at the moment of the event, shaped as the Status RPCs shape them. */
function snapshotter(services: Services): Snapshotter {
  const ctx: CallContext = { services, log: services.log, signal: new AbortController().signal };
  return (event): EventSnapshot => {
    let pod;
    try {
      pod = podStatus({ pod_sandbox_id: event.podId, verbose: false }, ctx).status ?? undefined;
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
  const { events } = ctx.services;
  // Installed here because the server side knows how to shape a status; it reads only services.
  events.setSnapshotter(snapshotter(ctx.services));
  const sub = events.subscribe();
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
