import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CHECKS, formatResult, runConformance } from '@herald/testing';

const usage = `Checks an agent against the Herald agent protocol (docs/asyncapi.yaml, section 10).

  npm run conformance -- --agent "<command>" [--checks hello,update-full,...] [--work DIR]
  npm run conformance -- --list

Starts Herald (its three services on a PostgreSQL database and RabbitMQ vhost of their own, with
short timings), then runs <command> through /bin/sh as many times as the checks need, each run
configured by environment variables: AGENT_ID, RABBITMQ_URL, AGENT_STATE_DIR, AGENT_COMPONENTS,
AGENT_INDEPENDENT, AGENT_HEARTBEAT_SECONDS. Prints one line per check, then conformance: P/T.
Exit code 0 when every check passed. Each run's output is kept in the work directory.

Needs: PostgreSQL (TEST_DATABASE_URL, a user that may create databases; default postgres on 127.0.0.1) and
RabbitMQ with rabbitmqctl on this machine (TEST_RABBITMQ_URL, default guest on 127.0.0.1).`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      agent: { type: 'string' },
      checks: { type: 'string' },
      work: { type: 'string' },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (values.list) {
    for (const c of CHECKS) console.log(`${c.name.padEnd(20)} ${c.what}`);
    return 0;
  }
  if (!values.agent) {
    console.error(usage);
    return 2;
  }
  const workDir = path.resolve(values.work ?? mkdtempSync(path.join(tmpdir(), 'herald-conformance-')));
  console.log(`conformance: agent "${values.agent}", output and state in ${workDir}`);
  // Ctrl-C or a SIGTERM: the agents are killed and Herald's database and vhost removed before exiting.
  const interrupt = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => interrupt.abort());
  const report = await runConformance({
    agentCommand: values.agent,
    workDir,
    signal: interrupt.signal,
    only: values.checks ? values.checks.split(',').map((c) => c.trim()).filter(Boolean) : undefined,
    onResult: (r) => console.log(formatResult(r)),
  });
  console.log(`conformance: ${report.passed}/${report.total}`);
  return report.passed === report.total ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`conformance: ${err.message}`);
    process.exit(2);
  },
);
