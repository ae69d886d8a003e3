export { createCriServer, type CriServer } from './server.js';
export { listenOnSocket, type SocketListener } from './listener.js';
export { loadCriProto, protoRoot, criSchema, CONVERSION } from './proto.js';
export { eventSnapshotter } from './handlers/container-events.js';
