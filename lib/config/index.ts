export { defaultConfig, type Config, type RegistryEntry, type RegistryMirror, type RuntimeHandlerConfig } from './schema.js';
export { loadConfig, configFromToml, configToToml, readRegistriesConf, ConfigError, DEFAULT_CONFIG_PATH, type LoadOptions } from './load.js';
export { detectOomScoreRestriction, clampOomScoreAdj } from './oom.js';
