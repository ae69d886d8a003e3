export { CniNetwork, type Attachment, type CniOptions, type PodNetworkRequest } from './cni.js';
export { ResultCache, type CachedAttachment } from './cache.js';
export { configFiles, discoverNetwork, parseNetworkConf, ConfError, type NetworkConfList, type PluginConf } from './conf.js';
export { cniArgs, execPlugin, findPlugin, parseQuantity, pluginStdin, podIps, PluginError, type CniCommand, type Invocation } from './exec.js';
