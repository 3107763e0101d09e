import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { freshWorkDir, workDirRecord } from './local-mode.ts';

const logger = pino({ level: 'silent' });

describe('freshWorkDir', () => {
  const made: string[] = [];
  const folder = (prefix: string) => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    made.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('removes the folder an earlier daemon left and records a new one', async () => {
    const stateDir = folder('vnest-state-');
    const earlier = folder('vnest-up-');
    mkdirSync(join(earlier, 'vnest-local-host-abcdef'));
    writeFileSync(join(earlier, 'vnest-local-host-abcdef', 'process-groups'), '');
    writeFileSync(workDirRecord(stateDir), `${earlier}\n`);
    const dir = await freshWorkDir(stateDir, logger);
    made.push(dir);
    expect(existsSync(earlier)).toBe(false);
    expect(existsSync(dir)).toBe(true);
    expect(readFileSync(workDirRecord(stateDir), 'utf8').trim()).toBe(dir);
  });

  it('leaves the earlier folder while a process it started still runs', async () => {
    const stateDir = folder('vnest-state-');
    const earlier = folder('vnest-up-');
    mkdirSync(join(earlier, 'vnest-local-demo-abcdef'));
    // This test's own process stands in for a component the dead daemon's watchdog has not ended.
    writeFileSync(join(earlier, 'vnest-local-demo-abcdef', 'process-groups'), `${process.pid}\n`);
    writeFileSync(workDirRecord(stateDir), `${earlier}\n`);
    made.push(await freshWorkDir(stateDir, logger, 300));
    expect(existsSync(join(earlier, 'vnest-local-demo-abcdef', 'process-groups'))).toBe(true);
  });

  it('does not remove a folder it did not make, whatever the record says', async () => {
    const stateDir = folder('vnest-state-');
    const precious = folder('precious-');
    writeFileSync(join(precious, 'keep'), 'x');
    writeFileSync(workDirRecord(stateDir), `${precious}\n`);
    made.push(await freshWorkDir(stateDir, logger));
    expect(readFileSync(join(precious, 'keep'), 'utf8')).toBe('x');
  });
});
