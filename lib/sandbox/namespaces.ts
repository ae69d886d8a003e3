import { pinNamespaces, type NamespaceFiles } from '../mount/index.js';
import { SYSCTL_WRITE_LOOP, requiredNamespaces, sysctlArguments, sysctlFailure, type SysctlWrite } from './sysctl.js';

/**
 * What runs inside the new namespaces before they are pinned: the pod's hostname in its UTS
 * namespace, its loopback interface up in its network namespace, then its sysctls. The peers
 * bring `lo` up themselves, so a CNI configuration without the loopback plugin still gives
 * pods a working 127.0.0.1. Sysctls are written here because /proc/sys shows the namespaces of
 * the task that opens it, and this task is the one inside the pod's (while still seeing the
 * node's /proc mount). The script is fixed; hostname and sysctls reach it as arguments.
 */
const SETUP_SCRIPT = [
  'if [ -n "$1" ]; then hostname -- "$1" || exit 1; fi',
  'if [ "$2" = up ]; then ip link set lo up || exit 1; fi',
  'shift 2',
  SYSCTL_WRITE_LOOP,
].join('\n');

/**
 * Creates and pins a pod's net/ipc/uts namespaces, set up from inside (hostname, loopback,
 * sysctls) by the one `unshare` that makes them.
 */
export async function setUpPodNamespaces(files: NamespaceFiles, hostname: string | undefined, sysctls: readonly SysctlWrite[] = []): Promise<void> {
  // Refuses a sysctl of a kind the pod does not get its own namespace of, before anything is made.
  requiredNamespaces(sysctls, files);
  const name = files.uts && hostname ? hostname : '';
  const loopback = files.net ? 'up' : '';
  try {
    await pinNamespaces(files, ['sh', '-c', SETUP_SCRIPT, 'pod-namespace-setup', name, loopback, ...sysctlArguments(sysctls)]);
  } catch (err) {
    throw sysctlFailure(err);
  }
}
