import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { slotsAvailable } from '../../src/runner/slotExecutor';
import { SLOT_SCRIPT } from '../../src/runner/slotScript';

describe('the slot program', () => {
  it('compiles under perl with strict and warnings (an error here would fail every attempt as "its supervisor ended"; slots load neither, to fork lighter)', function () {
    if (!slotsAvailable()) this.skip();
    const r = spawnSync('perl', ['-Mstrict', '-Mwarnings', '-c', '-e', SLOT_SCRIPT], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /syntax OK/);
  });
});
