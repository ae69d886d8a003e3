export { CgroupManager, CgroupWriteError } from './manager.js';
export { hostCgroupLayout, parseCgroupLayout, type CgroupLayout } from './mounts.js';
export { ancestorsOf, containerCgroupsPath, expandSlice, podCgroupPath, type CgroupDriver, type PodCgroupPath } from './paths.js';
export { fromCri, podResources, sharesToWeight, v1Writes, v2Writes, type CgroupResources, type CgroupWrite } from './resources.js';
export { checkLinuxResources, checkPodLimits } from './validate.js';
