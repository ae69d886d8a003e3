import { it } from 'node:test';
import assert from 'node:assert/strict';
import { cniArgs } from '../../lib/sandbox/network/index.js';

it('CNI_ARGS never carries a value that would add or break a pair', () => {
  assert.equal(cniArgs([['IgnoreUnknown', '1'], ['K8S_POD_NAME', 'web'], ['K8S_POD_NAMESPACE', 'default']]), 'IgnoreUnknown=1;K8S_POD_NAME=web;K8S_POD_NAMESPACE=default');
  assert.equal(cniArgs([['IgnoreUnknown', '1'], ['K8S_POD_NAME', 'web;IP=10.88.0.5'], ['K8S_POD_UID', 'a=b'], ['K8S_POD_NAMESPACE', 'ns']]), 'IgnoreUnknown=1;K8S_POD_NAMESPACE=ns');
});
