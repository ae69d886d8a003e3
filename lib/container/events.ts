import type { ContainerRecord } from './record.js';

export type ContainerEventType = 'CONTAINER_CREATED_EVENT' | 'CONTAINER_STARTED_EVENT' | 'CONTAINER_STOPPED_EVENT' | 'CONTAINER_DELETED_EVENT';

/** Where lifecycle events go (GetContainerEvents). */
export interface ContainerEventSink {
  publish(event: { type: ContainerEventType; containerId: string; podId: string; createdAt: bigint }): void;
}

/** Publishes an event of container `c`, stamped `at` (nanoseconds). */
export type PublishEvent = (type: ContainerEventType, c: ContainerRecord, at: bigint) => void;

export function eventPublisher(sink: ContainerEventSink | undefined): PublishEvent {
  return (type, c, at) => sink?.publish({ type, containerId: c.id, podId: c.podId, createdAt: at });
}
