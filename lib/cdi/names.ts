/**
 * CDI names: a kind is `vendor/class`, a device is requested by its fully qualified name
 * `vendor/class=name`. The character rules are the CDI specification's.
 */

const LETTER = /[A-Za-z]/;
const ALNUM = /[A-Za-z0-9]/;

/** Why a vendor or class segment is invalid, or undefined when it is valid. */
function segmentProblem(what: string, name: string, maxLength: number): string | undefined {
  if (!name) return `empty ${what}`;
  if (name.length > maxLength) return `${what} "${name}" is longer than ${maxLength} characters`;
  if (!LETTER.test(name[0]!)) return `${what} "${name}" must start with a letter`;
  if (!ALNUM.test(name[name.length - 1]!)) return `${what} "${name}" must end with a letter or digit`;
  if (!/^[A-Za-z0-9._-]*$/.test(name)) return `${what} "${name}" may hold only letters, digits, ".", "_" and "-"`;
  return undefined;
}

/** Why a device name is invalid, or undefined when it is valid. */
export function deviceNameProblem(name: string): string | undefined {
  if (!name) return 'empty device name';
  if (!ALNUM.test(name[0]!)) return `device name "${name}" must start with a letter or digit`;
  if (!ALNUM.test(name[name.length - 1]!)) return `device name "${name}" must end with a letter or digit`;
  if (!/^[A-Za-z0-9._:-]*$/.test(name)) return `device name "${name}" may hold only letters, digits, ".", "_", ":" and "-"`;
  return undefined;
}

/** A kind's vendor and class (the vendor a DNS subdomain of at most 253 characters, the class at most 63). */
export function parseKind(kind: string): { vendor: string; class: string } | { problem: string } {
  const slash = kind.indexOf('/');
  if (slash <= 0 || slash === kind.length - 1) return { problem: `kind "${kind}" is not vendor/class` };
  const vendor = kind.slice(0, slash);
  const cls = kind.slice(slash + 1);
  const problem = segmentProblem('vendor', vendor, 253) ?? segmentProblem('class', cls, 63);
  return problem ? { problem: `kind "${kind}": ${problem}` } : { vendor, class: cls };
}

export interface QualifiedName {
  vendor: string;
  class: string;
  name: string;
}

/** `vendor/class=name`, checked; or why it is not one. */
export function parseQualifiedName(device: string): QualifiedName | { problem: string } {
  const eq = device.indexOf('=');
  if (eq <= 0 || device.startsWith('/')) return { problem: `"${device}" is not a fully qualified CDI device name (vendor.com/class=name)` };
  const kind = parseKind(device.slice(0, eq));
  if ('problem' in kind) return { problem: `CDI device "${device}": ${kind.problem}` };
  const name = device.slice(eq + 1);
  const problem = deviceNameProblem(name);
  return problem ? { problem: `CDI device "${device}": ${problem}` } : { ...kind, name };
}

export function isQualifiedName(device: string): boolean {
  return !('problem' in parseQualifiedName(device));
}
