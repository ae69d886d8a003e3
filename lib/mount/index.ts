export { parseMountInfo, readMountInfo, mountPoints, mountHolding, type MountEntry } from './mountinfo.js';
export { bindMount, mountOverlay, mountTmpfs, ensureShared, ensurePrivateMount, mountsBelow, unmount, unmountAll } from './mounts.js';
export { isPinnedNamespace, pinNamespaces, pinNamespaceOf, pinUserNamespace, unpinNamespaces, type IdMapping, type IdMappings, type NamespaceFiles, type UserNamespaceFiles } from './namespaces.js';
export { idmapMount, replaceWithOverlay } from './idmap.js';
