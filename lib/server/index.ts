export { createCriServer, type CriServer } from './server.js';
export { listenOnSocket, type SocketListener } from './listener.js';
export { loadCriProto, protoRoot, LOADER_OPTIONS } from './proto.js';
export { eventSnapshotter } from './handlers/container-events.js';
